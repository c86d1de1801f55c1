import { useAuth } from '../auth.jsx';
import { Link, useNavigate } from '../router.jsx';
import { useLiveState } from '../socket.jsx';

const liveLabels = { live: 'Live', connecting: 'Connecting…', offline: 'Offline' };

export function Layout({ children }) {
  const { token, email, logout } = useAuth();
  const live = useLiveState();
  const navigate = useNavigate();
  return (
    <div className="app">
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <div className="topbar__inner">
          <Link to="/" className="brand" aria-label="Herald, home">
            <span className="brand__mark" aria-hidden="true">
              H
            </span>
            <span className="brand__name">Herald</span>
          </Link>
          {token && (
            <span className={`live live--${live}`} data-testid="live" data-state={live} title="Live updates">
              <span className="live__dot" aria-hidden="true" />
              <span className="live__label">{liveLabels[live]}</span>
            </span>
          )}
          <nav className="topbar__nav" aria-label="Account">
            {token ? (
              <>
                {email && (
                  <span className="topbar__user" title={`Logged in as ${email}`}>
                    {email}
                  </span>
                )}
                <button
                  type="button"
                  className="button button--ghost"
                  onClick={() => {
                    logout();
                    navigate('/login');
                  }}
                >
                  Log out
                </button>
              </>
            ) : (
              <>
                <Link to="/login" className="button button--ghost">
                  Log in
                </Link>
                <Link to="/signup" className="button button--primary">
                  Sign up
                </Link>
              </>
            )}
          </nav>
        </div>
      </header>
      <main id="main" className="main" tabIndex={-1}>
        {children}
      </main>
      <footer className="footer">Herald · posts update live</footer>
    </div>
  );
}
