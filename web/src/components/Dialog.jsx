import { useEffect, useId, useRef } from 'react';

// Dialog is a modal built on <dialog>: the browser traps focus, Escape closes
// it, and focus returns to where it was.
export function Dialog({ title, onClose, children, className = '', busy = false }) {
  const ref = useRef(null);
  const titleId = useId();
  const closeRef = useRef(onClose);
  closeRef.current = onClose;
  const busyRef = useRef(busy);
  busyRef.current = busy;

  useEffect(() => {
    const dialog = ref.current;
    const previous = document.activeElement;
    if (!dialog.open) dialog.showModal();
    // showModal focuses the first focusable element (the close button);
    // start where the dialog says instead.
    const first = dialog.querySelector('[data-autofocus]');
    if (first) first.focus();
    const onCancel = (e) => {
      e.preventDefault();
      if (!busyRef.current) closeRef.current();
    };
    dialog.addEventListener('cancel', onCancel);
    document.body.classList.add('has-modal');
    return () => {
      dialog.removeEventListener('cancel', onCancel);
      if (dialog.open) dialog.close();
      document.body.classList.remove('has-modal');
      if (previous && typeof previous.focus === 'function') previous.focus();
    };
  }, []);

  return (
    <dialog ref={ref} className={`dialog ${className}`} aria-labelledby={titleId}>
      <div className="dialog__header">
        <h2 id={titleId} className="dialog__title">
          {title}
        </h2>
        <button type="button" className="icon-button" onClick={() => !busy && onClose()} aria-label="Close" disabled={busy}>
          ×
        </button>
      </div>
      <div className="dialog__body">{children}</div>
    </dialog>
  );
}
