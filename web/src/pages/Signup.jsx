import { useState } from 'react';
import { api } from '../api.js';
import { useAuth } from '../auth.jsx';
import { Alert } from '../components/Alert.jsx';
import { Field } from '../components/Field.jsx';
import { useTitle } from '../hooks.js';
import { Link } from '../router.jsx';

// Signup creates the account, then logs in with it.
export function Signup() {
  useTitle('Sign up');
  const { login } = useAuth();
  const [form, setForm] = useState({ email: '', name: '', password: '' });
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const [fields, setFields] = useState({});

  const set = (key) => (e) => setForm((f) => ({ ...f, [key]: e.target.value }));

  const submit = async (e) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    setFields({});
    try {
      await api('/auth/signup', { method: 'PUT', json: form });
    } catch (err) {
      setError(err.message);
      setFields(err.fieldErrors());
      setBusy(false);
      return;
    }
    try {
      const res = await api('/auth/login', { method: 'POST', json: { email: form.email, password: form.password } });
      login({ token: res.token, userId: res.userId }); // the route then redirects
    } catch (err) {
      setError(`Your account was created, but logging in failed: ${err.message}`);
      setBusy(false);
    }
  };

  return (
    <div className="auth">
      <section className="card auth__card" aria-labelledby="signup-heading">
        <h1 id="signup-heading" className="auth__title">
          Create your account
        </h1>
        <p className="auth__lead">Share posts and see everyone’s as they happen.</p>
        <form className="form" onSubmit={submit} noValidate aria-busy={busy}>
          <Alert>{error}</Alert>
          <Field
            label="Email"
            type="email"
            name="email"
            autoComplete="email"
            value={form.email}
            onChange={set('email')}
            error={fields.email}
            disabled={busy}
            required
          />
          <Field
            label="Name"
            name="name"
            autoComplete="name"
            value={form.name}
            onChange={set('name')}
            error={fields.name}
            disabled={busy}
            required
          />
          <Field
            label="Password"
            type="password"
            name="password"
            autoComplete="new-password"
            value={form.password}
            onChange={set('password')}
            error={fields.password}
            hint="At least 5 characters."
            disabled={busy}
            required
          />
          <button type="submit" className="button button--primary button--block" disabled={busy}>
            {busy ? 'Creating your account…' : 'Sign up'}
          </button>
        </form>
        <p className="auth__switch">
          Already have an account? <Link to="/login">Log in</Link>
        </p>
      </section>
    </div>
  );
}
