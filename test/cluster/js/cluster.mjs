// Two herald serve instances, A and B, as one service: a user logged in on
// B's web UI sees a post created through A's REST API appear without a
// reload, and both instances count the same posts.
// Env: HERALD_A, HERALD_B, ARTIFACTS_DIR, IMAGE_PNG, NAME (for screenshots).
import fs from 'node:fs';
import path from 'node:path';
import { check, emit, env, launch, main, until } from './lib.mjs';

const A = env('HERALD_A');
const B = env('HERALD_B');
const artifacts = env('ARTIFACTS_DIR');
const image = env('IMAGE_PNG');
const name = env('NAME');

const user = { email: 'cluster@example.com', name: 'Clara', password: 'clara-secret' };

async function api(base, method, route, { token, json, form } = {}) {
  const headers = {};
  if (token) headers.Authorization = `Bearer ${token}`;
  let body;
  if (json) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(json);
  } else if (form) {
    body = form;
  }
  const res = await fetch(base + route, { method, headers, body });
  const text = await res.text();
  let data;
  try {
    data = JSON.parse(text);
  } catch {
    data = text;
  }
  return { status: res.status, data };
}

async function shot(page, step) {
  await page.screenshot({ path: path.join(artifacts, `${name}-${step}.png`), fullPage: true });
}

main(async () => {
  const checks = [];
  const ok = (c) => {
    checks.push(c);
    emit('step', { name: c });
  };

  // The user signs up through A and logs in through both: one database.
  let r = await api(A, 'PUT', '/auth/signup', { json: user });
  check(r.status === 201, `signup on A: ${r.status} ${JSON.stringify(r.data)}`);
  r = await api(B, 'POST', '/auth/login', { json: { email: user.email, password: user.password } });
  check(r.status === 200 && r.data.token, `login on B: ${r.status} ${JSON.stringify(r.data)}`);
  const tokenB = r.data.token;
  r = await api(A, 'POST', '/auth/login', { json: { email: user.email, password: user.password } });
  check(r.status === 200 && r.data.token, `login on A: ${r.status}`);
  const tokenA = r.data.token;
  ok('a user signed up on A logs in on B');

  const browser = await launch();
  try {
    const ctx = await browser.newContext({ viewport: { width: 1000, height: 800 } });
    const page = await ctx.newPage();
    page.setDefaultTimeout(30_000);
    const pageErrors = [];
    page.on('pageerror', (err) => pageErrors.push(String(err)));
    // Every Socket.IO request the page makes must go to B.
    const socketHosts = new Set();
    page.on('request', (req) => {
      if (req.url().includes('/socket.io/')) socketHosts.add(new URL(req.url()).origin);
    });
    page.on('websocket', (ws) => socketHosts.add(new URL(ws.url()).origin.replace(/^ws/, 'http')));

    await page.goto(`${B}/`);
    await page.getByRole('heading', { name: 'Log in' }).waitFor();
    await page.getByLabel('Email').fill(user.email);
    await page.getByLabel('Password').fill(user.password);
    await page.getByRole('button', { name: 'Log in', exact: true }).click();
    await page.getByRole('heading', { name: 'Feed', exact: true }).waitFor();
    await page.locator('[data-testid="live"][data-state="live"]').waitFor();
    await until('"0 posts" on B', async () => (await page.getByTestId('total-items').textContent()) === '0 posts');
    await shot(page, '1-b-before');
    ok('the browser is logged in on B, live, with 0 posts');

    // A marker in the page's JS heap: a reload or navigation would lose it.
    await page.evaluate(() => {
      window.__noReload = 'still here';
    });
    const navigations = [];
    page.on('framenavigated', (f) => {
      if (f === page.mainFrame()) navigations.push(f.url());
    });

    const form = new FormData();
    form.append('title', `Made on A (${name})`);
    form.append('content', 'Created through the REST API of instance A');
    form.append('image', new Blob([fs.readFileSync(image)], { type: 'image/png' }), 'a.png');
    r = await api(A, 'POST', '/feed/post', { token: tokenA, form });
    check(r.status === 201, `create on A: ${r.status} ${JSON.stringify(r.data)}`);
    const post = r.data.post;
    ok('a post is created through A');

    const card = page.locator(`[data-testid="post"][data-post-id="${post._id}"]`);
    await card.waitFor();
    await card.getByRole('heading', { name: post.title, exact: true }).waitFor();
    await until('"1 post" on B', async () => (await page.getByTestId('total-items').textContent()) === '1 post');
    const marker = await page.evaluate(() => window.__noReload);
    check(marker === 'still here', 'the page was reloaded');
    check(navigations.length === 0, `the page navigated: ${navigations.join(', ')}`);
    await shot(page, '2-b-after-create-on-a');
    ok('the post appears live on B without a reload, and B shows "1 post"');

    // The image of the post is served by B too (shared data folder).
    const img = await api(B, 'GET', `/${post.imageUrl}`);
    check(img.status === 200, `GET /${post.imageUrl} on B: ${img.status}`);

    const listA = await api(A, 'GET', '/feed/posts', { token: tokenA });
    const listB = await api(B, 'GET', '/feed/posts', { token: tokenB });
    check(listA.status === 200 && listB.status === 200, `list: ${listA.status}, ${listB.status}`);
    check(listA.data.totalItems === 1 && listB.data.totalItems === 1,
      `totalItems ${listA.data.totalItems} on A, ${listB.data.totalItems} on B; want 1 on both`);
    ok('totalItems is 1 on A and on B');

    check([...socketHosts].every((h) => h === B) && socketHosts.size === 1,
      `the page's Socket.IO traffic went to ${[...socketHosts].join(', ')}, want ${B} only`);
    check(pageErrors.length === 0, `page errors: ${pageErrors.join('; ')}`);
    ok("the page's Socket.IO connection is to B only");
    return { checks, post, totalA: listA.data.totalItems, totalB: listB.data.totalItems, socketHosts: [...socketHosts] };
  } finally {
    await browser.close();
  }
});
