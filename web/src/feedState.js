// The feed page's state, apart from React so that it is tested alone
// (test/feedState.test.js).

// PER_PAGE is the contract's page size: the server answers 2 posts a page.
export const PER_PAGE = 2;

// pageOf reads the page number from a location's search string (?page=N).
export function pageOf(search) {
  const n = Number.parseInt(new URLSearchParams(search).get('page') || '1', 10);
  return Number.isFinite(n) && n > 0 ? n : 1;
}

export const initial = { page: 0, status: 'loading', posts: [], totalItems: 0, error: null };

// reducer applies page loads and live events as feed-api.md describes the
// original frontend: create puts the post at the top of page 1 (dropping the
// last one) and counts one more; update replaces the post with the same _id.
export function reducer(state, action) {
  switch (action.type) {
    case 'loading':
      // Reloading the same page keeps its posts on screen (no flash, no jump).
      return state.page === action.page
        ? { ...state, status: state.status === 'error' ? 'loading' : 'refreshing', error: null }
        : { ...initial, page: action.page };
    case 'loaded':
      return { page: action.page, status: 'ready', posts: action.posts, totalItems: action.totalItems, error: null };
    case 'error':
      return { ...state, status: 'error', error: action.error };
    case 'created': {
      if (state.posts.some((p) => p._id === action.post._id)) return state;
      const posts = state.page === 1 ? [action.post, ...state.posts].slice(0, PER_PAGE) : state.posts;
      return { ...state, posts, totalItems: state.totalItems + 1 };
    }
    case 'updated':
      return { ...state, posts: state.posts.map((p) => (p._id === action.post._id ? action.post : p)) };
    default:
      return state;
  }
}
