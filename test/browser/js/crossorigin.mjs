// A page served from another origin connects to Herald with the v2 client
// (socket.io-client 2.5, Engine.IO 3, XHR polling with credentials, then the
// WebSocket upgrade) and receives the "posts" event of a post created through
// the REST API. Env: HERALD_URL, PAGE_URL, ARTIFACTS_DIR, IMAGE_PNG.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { check, emit, env, launch, main, until } from './lib.mjs';

const server = env('HERALD_URL');
const pageURL = env('PAGE_URL');
const artifacts = env('ARTIFACTS_DIR');

async function call(method, route, { json, form, token } = {}) {
  const headers = {};
  if (token) headers.Authorization = `Bearer ${token}`;
  let body;
  if (json) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(json);
  } else if (form) {
    body = form;
  }
  const res = await fetch(server + route, { method, headers, body });
  const text = await res.text();
  let data = null;
  try {
    data = JSON.parse(text);
  } catch {
    data = text;
  }
  return { status: res.status, body: data };
}

main(async () => {
  const email = 'carol@example.com';
  const password = 'secret-carol';
  const signup = await call('PUT', '/auth/signup', { json: { email, password, name: 'Carol' } });
  check(signup.status === 201, `signup answered ${signup.status} ${JSON.stringify(signup.body)}`);
  const login = await call('POST', '/auth/login', { json: { email, password } });
  check(login.status === 200 && login.body.token, `login answered ${login.status} ${JSON.stringify(login.body)}`);
  const token = login.body.token;

  const browser = await launch();
  try {
    const context = await browser.newContext({ viewport: { width: 900, height: 700 } });
    const page = await context.newPage();
    page.setDefaultTimeout(30_000);
    const pageErrors = [];
    page.on('pageerror', (err) => pageErrors.push(String(err)));
    // The CORS headers of the v2 client's polling responses (credentialed XHRs).
    const polling = [];
    page.on('response', async (res) => {
      if (!res.url().startsWith(`${server}/socket.io/`) || !res.url().includes('transport=polling')) return;
      const h = await res.allHeaders();
      polling.push({
        method: res.request().method(),
        status: res.status(),
        allowOrigin: h['access-control-allow-origin'] ?? null,
        allowCredentials: h['access-control-allow-credentials'] ?? null,
      });
    });

    await page.goto(`${pageURL}/?server=${encodeURIComponent(server)}`);
    const origin = await page.evaluate(() => location.origin);
    check(origin !== new URL(server).origin, `the page's origin ${origin} is the server's`);
    emit('step', { name: 'page loaded', origin });

    await until(
      'the v2 client to connect',
      async () => {
        const s = await page.evaluate(() => window.__herald);
        if (s.errors.length) throw new Error(`connect_error: ${s.errors.join('; ')}`);
        return s.connected;
      },
      30_000,
    );
    emit('step', { name: 'connected' });
    // The client starts on XHR polling (withCredentials: true), then upgrades.
    await until(
      'the upgrade to WebSocket',
      async () => {
        const s = await page.evaluate(() => ({ ...window.__herald, now: window.__socket.io.engine.transport.name }));
        if (s.errors.length) throw new Error(s.errors.join('; '));
        return s.upgraded === 'websocket' && s.now === 'websocket';
      },
      30_000,
    );
    emit('step', { name: 'upgraded' });

    // The REST API answers a page from another origin too (CORS: *).
    const rest = await page.evaluate(
      async ({ server, token }) => {
        const res = await fetch(`${server}/feed/posts?page=1`, { headers: { Authorization: `Bearer ${token}` } });
        return { status: res.status, body: await res.json() };
      },
      { server, token },
    );
    check(rest.status === 200, `cross-origin GET /feed/posts answered ${rest.status}`);

    const png = await readFile(env('IMAGE_PNG'));
    const form = new FormData();
    form.append('title', 'Hello from Node');
    form.append('content', 'Created through the REST API while a v2 page listens.');
    form.append('image', new Blob([png], { type: 'image/png' }), 'cross.png');
    const created = await call('POST', '/feed/post', { form, token });
    check(created.status === 201, `POST /feed/post answered ${created.status} ${JSON.stringify(created.body)}`);
    emit('step', { name: 'post created', id: created.body.post && created.body.post._id });

    await until('the posts event on the v2 page', () => page.evaluate(() => window.__herald.events.length >= 1), 15_000);
    const state = await page.evaluate(() => window.__herald);
    await page.screenshot({ path: path.join(artifacts, 'crossorigin-v2.png'), fullPage: true });
    await page.evaluate(() => window.__socket.close());
    check(pageErrors.length === 0, `errors on the page: ${pageErrors.join('; ')}`);
    return {
      pageOrigin: origin,
      protocol: state.protocol,
      transport: state.transport,
      upgraded: state.upgraded,
      restStatus: rest.status,
      polling,
      created: created.body,
      events: state.events,
    };
  } finally {
    await browser.close();
  }
});
