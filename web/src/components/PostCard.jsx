import { formatDate, imageSrc } from '../config.js';
import { Link } from '../router.jsx';

// PostCard is one post in the feed. Its image box has a fixed aspect ratio,
// so the card does not change height when the image loads.
export function PostCard({ post, mine, onEdit, onDelete }) {
  const author = post.creator && post.creator.name ? post.creator.name : 'Unknown';
  return (
    <article className="card post-card" data-testid="post" data-post-id={post._id} aria-labelledby={`post-title-${post._id}`}>
      <Link to={`/post/${post._id}`} className="post-card__media ratio-box" tabIndex={-1} aria-hidden="true">
        <img src={imageSrc(post.imageUrl)} alt="" loading="lazy" decoding="async" />
      </Link>
      <div className="post-card__body">
        <p className="post-card__meta">
          <span className="avatar" aria-hidden="true">
            {author.slice(0, 1).toUpperCase()}
          </span>
          <span>
            <span className="post-card__author">{author}</span>
            <span className="post-card__date">
              {' · '}
              <time dateTime={post.createdAt}>{formatDate(post.createdAt)}</time>
            </span>
          </span>
        </p>
        <h2 className="post-card__title" id={`post-title-${post._id}`}>
          <Link to={`/post/${post._id}`}>{post.title}</Link>
        </h2>
        <p className="post-card__excerpt">{post.content}</p>
        <div className="post-card__actions">
          <Link to={`/post/${post._id}`} className="button button--ghost button--small">
            View
          </Link>
          {mine && (
            <>
              <button type="button" className="button button--ghost button--small" onClick={() => onEdit(post)}>
                Edit
              </button>
              <button type="button" className="button button--ghost button--small button--danger-text" onClick={() => onDelete(post)}>
                Delete
              </button>
            </>
          )}
        </div>
      </div>
    </article>
  );
}

// PostCardSkeleton holds the place of a PostCard while the page loads.
export function PostCardSkeleton() {
  return (
    <div className="card post-card post-card--skeleton" aria-hidden="true" data-testid="post-skeleton">
      <div className="post-card__media ratio-box skeleton" />
      <div className="post-card__body">
        <div className="skeleton skeleton--line skeleton--short" />
        <div className="skeleton skeleton--title" />
        <div className="skeleton skeleton--line" />
        <div className="skeleton skeleton--line skeleton--medium" />
      </div>
    </div>
  );
}
