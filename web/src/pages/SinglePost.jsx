import { useEffect, useState } from 'react';
import { api } from '../api.js';
import { useAuth } from '../auth.jsx';
import { Alert } from '../components/Alert.jsx';
import { ConfirmDelete } from '../components/ConfirmDelete.jsx';
import { PostEditor } from '../components/PostEditor.jsx';
import { formatDate, imageSrc } from '../config.js';
import { useTitle } from '../hooks.js';
import { Link, useNavigate } from '../router.jsx';
import { usePostsEvents } from '../socket.jsx';

// SinglePost is /post/:id. It follows the live events too: an edit shows at
// once, a deletion says so.
export function SinglePost({ id }) {
  const { token, userId } = useAuth();
  const navigate = useNavigate();
  const [state, setState] = useState({ status: 'loading', post: null, error: null });
  const [reloads, setReloads] = useState(0);
  const [editing, setEditing] = useState(false);
  const [deleting, setDeleting] = useState(false);
  useTitle(state.post ? state.post.title : 'Post');

  useEffect(() => {
    const ctrl = new AbortController();
    api(`/feed/post/${encodeURIComponent(id)}`, { token, signal: ctrl.signal })
      .then((res) => setState({ status: 'ready', post: res.post, error: null }))
      .catch((err) => {
        if (err.name === 'AbortError') return;
        setState((s) => ({ ...s, status: err.status === 404 ? 'missing' : 'error', error: err.message }));
      });
    return () => ctrl.abort();
  }, [id, token, reloads]);

  usePostsEvents((event) => {
    if (event.action === 'update' && event.post && event.post._id === id) {
      setState({ status: 'ready', post: event.post, error: null });
    } else if (event.action === 'delete' && event.post === id) {
      setState((s) => ({ ...s, status: 'deleted' }));
      setEditing(false);
      setDeleting(false);
    } else if (event.action === 'resync') {
      setReloads((n) => n + 1);
    }
  });

  const back = (
    <Link to="/" className="back-link">
      ← Back to the feed
    </Link>
  );

  if (state.status === 'missing' || state.status === 'deleted') {
    return (
      <div className="single">
        {back}
        <div className="card empty" data-testid="post-missing">
          <h1 className="empty__title">{state.status === 'deleted' ? 'This post was deleted' : 'Post not found'}</h1>
          <p className="empty__text">{state.status === 'deleted' ? 'Its author removed it.' : state.error}</p>
        </div>
      </div>
    );
  }

  const post = state.post;
  const mine = post && post.creator && post.creator._id === userId;
  const edited = post && post.updatedAt && post.updatedAt !== post.createdAt;

  return (
    <div className="single">
      {back}
      {state.status === 'error' && (
        <Alert>
          {state.error}{' '}
          <button type="button" className="link-button" onClick={() => setReloads((n) => n + 1)}>
            Try again
          </button>
        </Alert>
      )}
      <article className="card single__card" aria-busy={state.status === 'loading'} data-testid="single-post">
        {post ? (
          <>
            <header className="single__header">
              <h1 className="single__title">{post.title}</h1>
              <p className="single__meta">
                By <strong>{post.creator?.name ?? 'Unknown'}</strong> on{' '}
                <time dateTime={post.createdAt}>{formatDate(post.createdAt)}</time>
                {edited && <span className="single__edited"> · edited</span>}
              </p>
            </header>
            <div className="single__media ratio-box">
              <img src={imageSrc(post.imageUrl)} alt={post.title} />
            </div>
            <div className="single__content">{post.content}</div>
            {mine && (
              <div className="single__actions">
                <button type="button" className="button button--secondary" onClick={() => setEditing(true)}>
                  Edit
                </button>
                <button type="button" className="button button--danger" onClick={() => setDeleting(true)}>
                  Delete
                </button>
              </div>
            )}
          </>
        ) : (
          <div aria-hidden="true">
            <div className="skeleton skeleton--title skeleton--wide" />
            <div className="skeleton skeleton--line skeleton--short" />
            <div className="single__media ratio-box skeleton" />
            <div className="skeleton skeleton--line" />
            <div className="skeleton skeleton--line skeleton--medium" />
          </div>
        )}
      </article>
      {editing && post && <PostEditor post={post} onClose={() => setEditing(false)} onSaved={() => setEditing(false)} />}
      {deleting && post && (
        <ConfirmDelete post={post} onClose={() => setDeleting(false)} onDeleted={() => navigate('/', { replace: true })} />
      )}
    </div>
  );
}
