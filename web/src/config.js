// Where the API lives: the page's own origin (the herald binary serves both),
// unless VITE_API_URL was set at build time (for "npm run dev").
export const API_URL = (import.meta.env.VITE_API_URL || window.location.origin).replace(/\/+$/, '');

export { PER_PAGE } from './feedState.js';

// imageSrc turns a post's relative imageUrl ("images/<name>") into a URL.
export function imageSrc(imageUrl) {
  if (!imageUrl) return '';
  if (/^(https?:|blob:|data:)/.test(imageUrl)) return imageUrl;
  return `${API_URL}/${imageUrl.replace(/^\/+/, '')}`;
}

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

export function formatDate(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? '' : dateFormat.format(d);
}
