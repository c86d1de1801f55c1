import { useState } from 'react';
import { api } from '../api.js';
import { useAuth } from '../auth.jsx';
import { Alert } from './Alert.jsx';
import { Dialog } from './Dialog.jsx';

// ConfirmDelete asks before deleting a post, then deletes it.
export function ConfirmDelete({ post, onClose, onDeleted }) {
  const { token } = useAuth();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);

  const remove = async () => {
    setBusy(true);
    setError(null);
    try {
      await api(`/feed/post/${encodeURIComponent(post._id)}`, { method: 'DELETE', token });
      onDeleted(post);
    } catch (err) {
      setError(err.message);
      setBusy(false);
    }
  };

  return (
    <Dialog title="Delete this post?" onClose={onClose} busy={busy} className="dialog--small">
      <p className="dialog__text">
        “{post.title}” will be removed for everyone. This cannot be undone.
      </p>
      <Alert>{error}</Alert>
      <div className="dialog__actions">
        <button type="button" className="button button--secondary" onClick={onClose} disabled={busy} data-autofocus>
          Cancel
        </button>
        <button type="button" className="button button--danger" onClick={remove} disabled={busy}>
          {busy ? 'Deleting…' : 'Delete post'}
        </button>
      </div>
    </Dialog>
  );
}
