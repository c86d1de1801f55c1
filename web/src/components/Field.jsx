import { useId } from 'react';

// Field is a labelled input (or textarea) with its hint and error wired to
// aria-describedby, so screen readers announce them with the input.
export function Field({ label, error, hint, as = 'input', className = '', ...props }) {
  const id = useId();
  const errorId = `${id}-error`;
  const hintId = `${id}-hint`;
  const Tag = as;
  const describedBy = [hint ? hintId : null, error ? errorId : null].filter(Boolean).join(' ') || undefined;
  return (
    <div className={`field ${error ? 'field--invalid' : ''} ${className}`}>
      <label htmlFor={id} className="field__label">
        {label}
      </label>
      <Tag id={id} className="field__control" aria-invalid={error ? 'true' : undefined} aria-describedby={describedBy} {...props} />
      {hint && !error && (
        <p id={hintId} className="field__hint">
          {hint}
        </p>
      )}
      {error && (
        <p id={errorId} className="field__error" data-testid="field-error">
          {error}
        </p>
      )}
    </div>
  );
}
