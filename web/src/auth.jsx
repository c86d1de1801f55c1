import { createContext, useCallback, useContext, useEffect, useMemo, useState } from 'react';
import { onUnauthorized } from './api.js';

// The session (JWT, user id, expiry) lives in localStorage so that it
// survives a reload; it ends at the token's expiry, on a 401, on log out,
// and in every tab at once.

const KEY = 'herald.session';
const HOUR = 60 * 60 * 1000;
const MAX_TIMEOUT = 2 ** 31 - 1;

const AuthContext = createContext(null);

// claims reads a JWT's payload without checking it (the server does); an
// unreadable token has no claims.
function claims(token) {
  try {
    const part = token.split('.')[1];
    return JSON.parse(atob(part.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(part.length / 4) * 4, '=')));
  } catch {
    return {};
  }
}

function loadSession() {
  try {
    const s = JSON.parse(localStorage.getItem(KEY) || 'null');
    if (s && typeof s.token === 'string' && typeof s.expiresAt === 'number' && s.expiresAt > Date.now()) {
      return s;
    }
  } catch {
    // fall through: a corrupt entry is no session
  }
  localStorage.removeItem(KEY);
  return null;
}

export function AuthProvider({ children }) {
  const [session, setSession] = useState(loadSession);
  const [notice, setNotice] = useState(null);

  const logout = useCallback((reason) => {
    localStorage.removeItem(KEY);
    setSession(null);
    setNotice(reason || null);
  }, []);

  const login = useCallback(({ token, userId }) => {
    const { exp, email } = claims(token);
    const expiresAt = typeof exp === 'number' ? exp * 1000 : Date.now() + HOUR;
    const s = { token, userId, email: typeof email === 'string' ? email : null, expiresAt };
    localStorage.setItem(KEY, JSON.stringify(s));
    setNotice(null);
    setSession(s);
  }, []);

  // Log out when the token expires.
  useEffect(() => {
    if (!session) return undefined;
    const left = session.expiresAt - Date.now();
    const timer = setTimeout(
      () => logout('Your session has expired. Please log in again.'),
      Math.max(0, Math.min(left, MAX_TIMEOUT)),
    );
    return () => clearTimeout(timer);
  }, [session, logout]);

  // Log out when the server refuses the token.
  useEffect(
    () => onUnauthorized(() => logout('Your session is no longer valid. Please log in again.')),
    [logout],
  );

  // Follow log ins and log outs of other tabs.
  useEffect(() => {
    const onStorage = (e) => {
      if (e.key === KEY) setSession(loadSession());
    };
    window.addEventListener('storage', onStorage);
    return () => window.removeEventListener('storage', onStorage);
  }, []);

  const value = useMemo(
    () => ({
      token: session?.token ?? null,
      userId: session?.userId ?? null,
      email: session?.email ?? null,
      expiresAt: session?.expiresAt ?? null,
      notice,
      clearNotice: () => setNotice(null),
      login,
      logout,
    }),
    [session, notice, login, logout],
  );
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

export function useAuth() {
  return useContext(AuthContext);
}
