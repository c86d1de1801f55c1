import { AuthProvider, useAuth } from './auth.jsx';
import { Layout } from './components/Layout.jsx';
import { safeNext } from './hooks.js';
import { Feed } from './pages/Feed.jsx';
import { Login } from './pages/Login.jsx';
import { NotFound } from './pages/NotFound.jsx';
import { Signup } from './pages/Signup.jsx';
import { SinglePost } from './pages/SinglePost.jsx';
import { Redirect, Router, useLocation } from './router.jsx';
import { SocketProvider } from './socket.jsx';

export default function App() {
  return (
    <Router>
      <AuthProvider>
        <Shell />
      </AuthProvider>
    </Router>
  );
}

function Shell() {
  const { token } = useAuth();
  return (
    <SocketProvider enabled={Boolean(token)}>
      <Layout>
        <Routes />
      </Layout>
    </SocketProvider>
  );
}

function Routes() {
  const { pathname, search } = useLocation();
  const { token } = useAuth();

  if (pathname === '/login' || pathname === '/signup') {
    if (token) return <Redirect to={safeNext(search)} />;
    return pathname === '/login' ? <Login /> : <Signup />;
  }
  if (!token) {
    const here = pathname + search;
    return <Redirect to={here === '/' ? '/login' : `/login?next=${encodeURIComponent(here)}`} />;
  }
  if (pathname === '/' || pathname === '/index.html') return <Feed />;
  const m = pathname.match(/^\/post\/([^/]+)\/?$/);
  if (m) {
    const id = decodeURIComponent(m[1]);
    return <SinglePost key={id} id={id} />;
  }
  return <NotFound />;
}
