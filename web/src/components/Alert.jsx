// Alert shows a message; errors are announced at once (role="alert"),
// other messages politely.
export function Alert({ kind = 'error', children, onDismiss }) {
  if (!children) return null;
  return (
    <div className={`alert alert--${kind}`} role={kind === 'error' ? 'alert' : 'status'} data-testid={`alert-${kind}`}>
      <span className="alert__text">{children}</span>
      {onDismiss && (
        <button type="button" className="alert__close" onClick={onDismiss} aria-label="Dismiss">
          ×
        </button>
      )}
    </div>
  );
}
