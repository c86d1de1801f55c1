import { useEffect } from 'react';

// useTitle sets the document title while a page is shown.
export function useTitle(title) {
  useEffect(() => {
    document.title = title ? `${title} · Herald` : 'Herald';
  }, [title]);
}

// safeNext returns a same-site path to go to after logging in.
export function safeNext(search) {
  const next = new URLSearchParams(search).get('next');
  return next && next.startsWith('/') && !next.startsWith('//') ? next : '/';
}
