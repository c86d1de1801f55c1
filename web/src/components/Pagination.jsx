// Pagination moves between pages of the feed.
export function Pagination({ page, lastPage, onPage }) {
  if (lastPage <= 1 && page <= 1) return null;
  return (
    <nav className="pagination" aria-label="Feed pages">
      <button type="button" className="button button--secondary" onClick={() => onPage(page - 1)} disabled={page <= 1}>
        ← Newer
      </button>
      <span className="pagination__label" aria-live="polite" data-testid="page-label">
        Page {page} of {Math.max(lastPage, 1)}
      </span>
      <button type="button" className="button button--secondary" onClick={() => onPage(page + 1)} disabled={page >= lastPage}>
        Older →
      </button>
    </nav>
  );
}
