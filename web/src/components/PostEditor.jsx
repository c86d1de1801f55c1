import { useEffect, useState } from 'react';
import { api } from '../api.js';
import { useAuth } from '../auth.jsx';
import { imageSrc } from '../config.js';
import { Alert } from './Alert.jsx';
import { Dialog } from './Dialog.jsx';
import { Field } from './Field.jsx';

// PostEditor creates a post (post is null) or edits one. The result is not
// read: the post appears (or changes) through the live "posts" event, as it
// does for everyone else.
export function PostEditor({ post, onClose, onSaved }) {
  const { token } = useAuth();
  const editing = Boolean(post);
  const [title, setTitle] = useState(post?.title ?? '');
  const [content, setContent] = useState(post?.content ?? '');
  const [file, setFile] = useState(null);
  const [fileKey, setFileKey] = useState(0);
  const [preview, setPreview] = useState(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const [fields, setFields] = useState({});

  useEffect(() => {
    if (!file) {
      setPreview(null);
      return undefined;
    }
    const url = URL.createObjectURL(file);
    setPreview(url);
    return () => URL.revokeObjectURL(url);
  }, [file]);

  const pick = (e) => {
    setFile(e.target.files && e.target.files[0] ? e.target.files[0] : null);
    setFields((f) => ({ ...f, image: undefined }));
  };

  const keepCurrent = () => {
    setFile(null);
    setFileKey((k) => k + 1); // a new <input type=file> forgets its selection
  };

  const submit = async (e) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    setFields({});
    const form = new FormData();
    form.append('title', title);
    form.append('content', content);
    if (file) form.append('image', file);
    else if (editing) form.append('image', post.imageUrl);
    try {
      if (editing) {
        await api(`/feed/post/${encodeURIComponent(post._id)}`, { method: 'PUT', token, form });
      } else {
        await api('/feed/post', { method: 'POST', token, form });
      }
      onSaved();
    } catch (err) {
      setError(err.message);
      setFields(err.fieldErrors ? err.fieldErrors() : {});
      setBusy(false);
    }
  };

  const shown = preview || (editing ? imageSrc(post.imageUrl) : null);

  return (
    <Dialog title={editing ? 'Edit post' : 'New post'} onClose={onClose} busy={busy}>
      <form className="form" onSubmit={submit} noValidate aria-busy={busy}>
        <Alert>{error}</Alert>
        <Field
          label="Title"
          name="title"
          value={title}
          onChange={(e) => setTitle(e.target.value)}
          error={fields.title}
          hint="At least 5 characters."
          autoComplete="off"
          disabled={busy}
          data-autofocus
        />
        <div className={`field ${fields.image ? 'field--invalid' : ''}`}>
          <span className="field__label" id="image-label">
            Image
          </span>
          <div className="image-picker">
            <div className="image-picker__preview ratio-box" aria-live="polite">
              {shown ? (
                <img src={shown} alt={preview ? 'Preview of the chosen image' : 'Current image'} data-testid="image-preview" />
              ) : (
                <span className="image-picker__empty">No image chosen</span>
              )}
            </div>
            <div className="image-picker__controls">
              <label className="button button--secondary file-button">
                <input
                  key={fileKey}
                  type="file"
                  name="image"
                  accept="image/png,image/jpeg"
                  onChange={pick}
                  disabled={busy}
                  aria-labelledby="image-label"
                  aria-describedby="image-hint"
                  className="visually-hidden-file"
                />
                {editing || file ? 'Choose another image' : 'Choose an image'}
              </label>
              {editing && file && (
                <button type="button" className="button button--ghost" onClick={keepCurrent} disabled={busy}>
                  Keep the current image
                </button>
              )}
              <p id="image-hint" className="field__hint">
                {file ? file.name : editing ? 'The current image is kept unless you choose another.' : 'PNG or JPEG.'}
              </p>
              {fields.image && <p className="field__error">{fields.image}</p>}
            </div>
          </div>
        </div>
        <Field
          as="textarea"
          label="Content"
          name="content"
          rows={5}
          value={content}
          onChange={(e) => setContent(e.target.value)}
          error={fields.content}
          hint="At least 5 characters."
          disabled={busy}
        />
        <div className="dialog__actions">
          <button type="button" className="button button--secondary" onClick={onClose} disabled={busy}>
            Cancel
          </button>
          <button type="submit" className="button button--primary" disabled={busy}>
            {busy ? 'Saving…' : editing ? 'Save changes' : 'Publish'}
          </button>
        </div>
      </form>
    </Dialog>
  );
}
