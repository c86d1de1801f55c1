import { useState } from 'react';
import { api } from '../api.js';
import { useAuth } from '../auth.jsx';
import { Alert } from '../components/Alert.jsx';
import { Field } from '../components/Field.jsx';
import { useTitle } from '../hooks.js';
import { Link } from '../router.jsx';

export function Login() {
  useTitle('Log in');
  const { login, notice, clearNotice } = useAuth();
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const [fields, setFields] = useState({});

  const submit = async (e) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    setFields({});
    clearNotice();
    try {
      const res = await api('/auth/login', { method: 'POST', json: { email, password } });
      login({ token: res.token, userId: res.userId }); // the route then redirects
    } catch (err) {
      setError(err.message);
      setFields(err.fieldErrors());
      setBusy(false);
    }
  };

  return (
    <div className="auth">
      <section className="card auth__card" aria-labelledby="login-heading">
        <h1 id="login-heading" className="auth__title">
          Log in
        </h1>
        <p className="auth__lead">Welcome back. Your feed updates live.</p>
        <Alert kind="info">{notice}</Alert>
        <form className="form" onSubmit={submit} noValidate aria-busy={busy}>
          <Alert>{error}</Alert>
          <Field
            label="Email"
            type="email"
            name="email"
            autoComplete="email"
            value={email}
            onChange={(e) => setEmail(e.target.value)}
            error={fields.email}
            disabled={busy}
            required
          />
          <Field
            label="Password"
            type="password"
            name="password"
            autoComplete="current-password"
            value={password}
            onChange={(e) => setPassword(e.target.value)}
            error={fields.password}
            disabled={busy}
            required
          />
          <button type="submit" className="button button--primary button--block" disabled={busy}>
            {busy ? 'Logging in…' : 'Log in'}
          </button>
        </form>
        <p className="auth__switch">
          New here? <Link to="/signup">Create an account</Link>
        </p>
      </section>
    </div>
  );
}
