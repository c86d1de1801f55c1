import { useEffect, useReducer, useState } from 'react';
import { api } from '../api.js';
import { useAuth } from '../auth.jsx';
import { Alert } from '../components/Alert.jsx';
import { ConfirmDelete } from '../components/ConfirmDelete.jsx';
import { Pagination } from '../components/Pagination.jsx';
import { PostCard, PostCardSkeleton } from '../components/PostCard.jsx';
import { PostEditor } from '../components/PostEditor.jsx';
import { StatusCard } from '../components/StatusCard.jsx';
import { PER_PAGE } from '../config.js';
import { initial, pageOf, reducer } from '../feedState.js';
import { useTitle } from '../hooks.js';
import { useLocation, useNavigate } from '../router.jsx';
import { usePostsEvents } from '../socket.jsx';

export function Feed() {
  useTitle('Feed');
  const { token, userId } = useAuth();
  const { search } = useLocation();
  const navigate = useNavigate();
  const page = pageOf(search);
  const [state, dispatch] = useReducer(reducer, initial);
  const [reloads, setReloads] = useState(0);
  const [editor, setEditor] = useState(null); // null, { post: null } (new) or { post }
  const [deleting, setDeleting] = useState(null);
  const [announcement, setAnnouncement] = useState('');

  useEffect(() => {
    const ctrl = new AbortController();
    dispatch({ type: 'loading', page });
    api(`/feed/posts?page=${page}`, { token, signal: ctrl.signal })
      .then((res) => {
        const posts = Array.isArray(res.posts) ? res.posts : [];
        const totalItems = Number(res.totalItems) || 0;
        const lastPage = Math.max(1, Math.ceil(totalItems / PER_PAGE));
        if (posts.length === 0 && page > lastPage) {
          // The page emptied (posts were deleted): show the last one there is.
          navigate(lastPage === 1 ? '/' : `/?page=${lastPage}`, { replace: true });
          return;
        }
        dispatch({ type: 'loaded', page, posts, totalItems });
      })
      .catch((err) => {
        if (err.name !== 'AbortError') dispatch({ type: 'error', error: err.message });
      });
    return () => ctrl.abort();
  }, [token, page, reloads, navigate]);

  usePostsEvents((event) => {
    switch (event.action) {
      case 'create':
        if (event.post && event.post._id) {
          dispatch({ type: 'created', post: event.post });
          if (event.post.creator?._id !== userId) {
            setAnnouncement(`New post by ${event.post.creator?.name ?? 'someone'}: ${event.post.title}`);
          }
        }
        break;
      case 'update':
        if (event.post && event.post._id) dispatch({ type: 'updated', post: event.post });
        break;
      case 'delete':
      case 'resync':
        setReloads((n) => n + 1);
        break;
      default:
    }
  });

  const lastPage = Math.max(1, Math.ceil(state.totalItems / PER_PAGE));
  const goTo = (p) => navigate(p <= 1 ? '/' : `/?page=${p}`);
  const showSkeleton = state.status === 'loading';

  return (
    <div className="feed">
      <StatusCard />
      <div className="feed__header">
        <div>
          <h1 className="feed__title">Feed</h1>
          <p className="feed__count" data-testid="total-items">
            {state.status === 'loading' ? '\u00a0' : `${state.totalItems} ${state.totalItems === 1 ? 'post' : 'posts'}`}
          </p>
        </div>
        <button type="button" className="button button--primary" onClick={() => setEditor({ post: null })}>
          New post
        </button>
      </div>
      <p className="visually-hidden" aria-live="polite">
        {announcement}
      </p>
      {state.status === 'error' && (
        <Alert>
          {state.error}{' '}
          <button type="button" className="link-button" onClick={() => setReloads((n) => n + 1)}>
            Try again
          </button>
        </Alert>
      )}
      <div className="feed__list" aria-busy={state.status === 'loading' || state.status === 'refreshing'} data-testid="feed">
        {showSkeleton && Array.from({ length: PER_PAGE }, (_, i) => <PostCardSkeleton key={i} />)}
        {!showSkeleton &&
          state.posts.map((post) => (
            <PostCard
              key={post._id}
              post={post}
              mine={post.creator && post.creator._id === userId}
              onEdit={(p) => setEditor({ post: p })}
              onDelete={setDeleting}
            />
          ))}
        {state.status === 'ready' && state.posts.length === 0 && (
          <div className="card empty" data-testid="empty">
            <h2 className="empty__title">No posts yet</h2>
            <p className="empty__text">Be the first: everyone here sees it the moment you publish.</p>
            <button type="button" className="button button--primary" onClick={() => setEditor({ post: null })}>
              Write the first post
            </button>
          </div>
        )}
      </div>
      {state.status !== 'loading' && <Pagination page={page} lastPage={lastPage} onPage={goTo} />}
      {editor && (
        <PostEditor
          post={editor.post}
          onClose={() => setEditor(null)}
          onSaved={() => {
            const created = !editor.post;
            setEditor(null);
            // A new post arrives through the live event at the top of page 1.
            if (created && page !== 1) goTo(1);
          }}
        />
      )}
      {deleting && (
        <ConfirmDelete
          post={deleting}
          onClose={() => setDeleting(null)}
          onDeleted={() => {
            setDeleting(null);
            setReloads((n) => n + 1);
          }}
        />
      )}
    </div>
  );
}
