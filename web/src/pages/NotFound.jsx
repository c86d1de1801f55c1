import { useTitle } from '../hooks.js';
import { Link } from '../router.jsx';

export function NotFound() {
  useTitle('Not found');
  return (
    <div className="card empty">
      <h1 className="empty__title">Page not found</h1>
      <p className="empty__text">There is nothing at this address.</p>
      <Link to="/" className="button button--primary">
        Go to the feed
      </Link>
    </div>
  );
}
