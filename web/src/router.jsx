import { createContext, useCallback, useContext, useEffect, useMemo, useState } from 'react';

// A tiny History API router: the app has four routes and needs no more.

const RouterContext = createContext(null);

function current() {
  return { pathname: window.location.pathname, search: window.location.search };
}

export function Router({ children }) {
  const [location, setLocation] = useState(current);

  useEffect(() => {
    const onPop = () => setLocation(current());
    window.addEventListener('popstate', onPop);
    return () => window.removeEventListener('popstate', onPop);
  }, []);

  const navigate = useCallback((to, { replace = false } = {}) => {
    const before = window.location.pathname + window.location.search;
    if (before !== to) {
      window.history[replace ? 'replaceState' : 'pushState'](null, '', to);
      if (!replace) window.scrollTo(0, 0);
    }
    setLocation(current());
  }, []);

  const value = useMemo(() => ({ location, navigate }), [location, navigate]);
  return <RouterContext.Provider value={value}>{children}</RouterContext.Provider>;
}

export function useLocation() {
  return useContext(RouterContext).location;
}

export function useNavigate() {
  return useContext(RouterContext).navigate;
}

// Link is an <a> that navigates without a reload (and still opens in a new
// tab with a modifier key).
export function Link({ to, onClick, children, ...rest }) {
  const navigate = useNavigate();
  const handle = (e) => {
    if (onClick) onClick(e);
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    navigate(to);
  };
  return (
    <a href={to} onClick={handle} {...rest}>
      {children}
    </a>
  );
}

// Redirect navigates (replacing the history entry) once rendered.
export function Redirect({ to }) {
  const navigate = useNavigate();
  useEffect(() => {
    navigate(to, { replace: true });
  }, [navigate, to]);
  return null;
}
