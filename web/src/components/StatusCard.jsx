import { useEffect, useState } from 'react';
import { api } from '../api.js';
import { useAuth } from '../auth.jsx';
import { Field } from './Field.jsx';

// StatusCard shows the user's status and changes it.
export function StatusCard() {
  const { token } = useAuth();
  const [status, setStatus] = useState('');
  const [saved, setSaved] = useState(null);
  const [state, setState] = useState('loading'); // loading | ready | saving
  const [error, setError] = useState(null);
  const [message, setMessage] = useState(null);

  useEffect(() => {
    const ctrl = new AbortController();
    api('/auth/status', { token, signal: ctrl.signal })
      .then((res) => {
        setStatus(res.status ?? '');
        setSaved(res.status ?? '');
        setState('ready');
      })
      .catch((err) => {
        if (err.name === 'AbortError') return;
        setError(err.message);
        setState('ready');
      });
    return () => ctrl.abort();
  }, [token]);

  const submit = async (e) => {
    e.preventDefault();
    setState('saving');
    setError(null);
    setMessage(null);
    try {
      await api('/auth/status', { method: 'PATCH', token, json: { status } });
      setSaved(status.trim());
      setStatus(status.trim());
      setMessage('Status updated.');
    } catch (err) {
      setError(err.fieldErrors().status || err.message);
    }
    setState('ready');
  };

  return (
    <section className="card status-card" aria-labelledby="status-heading">
      <div className="status-card__top">
        <h2 id="status-heading" className="status-card__heading">
          Your status
        </h2>
        <p className="status-card__message" role="status" data-testid="status-message">
          {message}
        </p>
      </div>
      <form className="status-card__form" onSubmit={submit} noValidate>
        <Field
          label="Status"
          className="status-card__field"
          name="status"
          value={state === 'loading' ? '' : status}
          placeholder={state === 'loading' ? 'Loading…' : 'What are you up to?'}
          onChange={(e) => {
            setStatus(e.target.value);
            setMessage(null);
          }}
          error={error}
          disabled={state !== 'ready'}
          autoComplete="off"
        />
        <button
          type="submit"
          className="button button--primary status-card__button"
          disabled={state !== 'ready' || status === saved}
        >
          {state === 'saving' ? 'Saving…' : 'Update'}
        </button>
      </form>
    </section>
  );
}
