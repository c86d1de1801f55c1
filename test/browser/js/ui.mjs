// Two users in two browser contexts drive the web UI served by herald:
// sign up, log in (and the errors on the way), status, then what Alice
// creates, edits and deletes appears in Bob's feed without a reload.
// Env: HERALD_URL, ARTIFACTS_DIR, IMAGE_PNG, IMAGE_JPEG.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { check, emit, env, launch, main, until } from './lib.mjs';

const base = env('HERALD_URL');
const artifacts = env('ARTIFACTS_DIR');
const imagePNG = env('IMAGE_PNG');
const imageJPEG = env('IMAGE_JPEG');

const alice = { email: 'alice@example.com', name: 'Alice', password: 'alice-secret' };
const bob = { email: 'bob@example.com', name: 'Bob', password: 'bob-secret' };

const checks = [];
function step(name) {
  checks.push(name);
  emit('step', { name });
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(artifacts, `${name}.png`), fullPage: true });
}

// A user's view of the app.
function ui(page) {
  const dialog = page.locator('dialog[open]');
  return {
    page,
    dialog,
    feed: page.getByTestId('feed'),
    card: (title) =>
      page.getByTestId('post').filter({ has: page.getByRole('heading', { name: title, exact: true }) }),
    cardById: (id) => page.locator(`[data-testid="post"][data-post-id="${id}"]`),
    alert: page.getByRole('alert'),
    async live() {
      await page.locator('[data-testid="live"][data-state="live"]').waitFor();
    },
    async total(n) {
      const want = `${n} ${n === 1 ? 'post' : 'posts'}`;
      await until(`"${want}" on ${page.__name}`, async () => (await page.getByTestId('total-items').textContent()) === want);
    },
  };
}

async function signup(page, user) {
  await page.goto(`${base}/signup`);
  await page.getByLabel('Email').fill(user.email);
  await page.getByLabel('Name').fill(user.name);
  await page.getByLabel('Password').fill(user.password);
  await page.getByRole('button', { name: 'Sign up' }).click();
  await page.getByRole('heading', { name: 'Feed', exact: true }).waitFor();
}

async function login(page, user) {
  await page.getByLabel('Email').fill(user.email);
  await page.getByLabel('Password').fill(user.password);
  await page.getByRole('button', { name: 'Log in', exact: true }).click();
}

async function logout(page) {
  await page.getByRole('button', { name: 'Log out' }).click();
  await page.getByRole('heading', { name: 'Log in' }).waitFor();
}

// fillEditor fills the open post dialog; image is a file path or null.
async function fillEditor(u, { title, content, image }) {
  if (title !== undefined) await u.dialog.getByLabel('Title').fill(title);
  if (content !== undefined) await u.dialog.getByLabel('Content').fill(content);
  if (image) await u.dialog.locator('input[type="file"]').setInputFiles(image);
}

// allLabelled checks that every form control on the page has a label.
async function allLabelled(page, where) {
  const unlabelled = await page.evaluate(() =>
    [...document.querySelectorAll('input, textarea, select')]
      .filter((el) => el.type !== 'hidden')
      .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label') && !el.getAttribute('aria-labelledby'))
      .map((el) => el.outerHTML.slice(0, 120)),
  );
  check(unlabelled.length === 0, `${where}: controls without a label: ${unlabelled.join(', ')}`);
}

// noHorizontalScroll checks the layout fits the viewport's width.
async function noHorizontalScroll(page, where) {
  const { scroll, client } = await page.evaluate(() => ({
    scroll: document.documentElement.scrollWidth,
    client: document.documentElement.clientWidth,
  }));
  check(scroll <= client, `${where}: the page is ${scroll} px wide in a ${client} px viewport`);
}

main(async () => {
  const browser = await launch();
  try {
    const ctxA = await browser.newContext({ viewport: { width: 1200, height: 900 } });
    // Bob is on a 360 px wide phone.
    const ctxB = await browser.newContext({ viewport: { width: 360, height: 780 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
    const pageA = await ctxA.newPage();
    const pageB = await ctxB.newPage();
    pageA.__name = 'Alice';
    pageB.__name = 'Bob';
    const pageErrors = [];
    for (const p of [pageA, pageB]) {
      p.setDefaultTimeout(30_000);
      p.on('pageerror', (err) => pageErrors.push(`${p.__name}: ${err}`));
    }
    // Every Socket.IO connection Bob's tab opens: its Engine.IO handshake
    // (a polling request without a sid) and its WebSocket after the upgrade.
    const bobSockets = [];
    let bobHandshakes = 0;
    pageB.on('websocket', (ws) => {
      if (ws.url().includes('/socket.io/')) bobSockets.push(ws);
    });
    pageB.on('request', (req) => {
      const url = req.url();
      if (url.includes('/socket.io/') && !url.includes('sid=')) bobHandshakes++;
    });
    const A = ui(pageA);
    const B = ui(pageB);

    // --- Sign up and log in, with the API's errors shown --------------------
    await pageA.goto(`${base}/`);
    await pageA.getByRole('heading', { name: 'Log in' }).waitFor(); // not logged in: redirected
    await allLabelled(pageA, 'the login page');
    // Keyboard users see where they are: the first Tab stop has a focus ring.
    await pageA.keyboard.press('Tab');
    const ring = await pageA.evaluate(() => {
      const s = getComputedStyle(document.activeElement);
      return { tag: document.activeElement.tagName, style: s.outlineStyle, width: s.outlineWidth };
    });
    check(ring.tag !== 'BODY' && ring.style !== 'none' && ring.width !== '0px', `no visible focus: ${JSON.stringify(ring)}`);
    await login(pageA, alice);
    await pageA.getByText('A user with this email could not be found.').waitFor();
    step('login with an unknown email shows the API message');

    await pageA.goto(`${base}/signup`);
    await pageA.getByLabel('Email').fill('not-an-email');
    await pageA.getByLabel('Password').fill('abc');
    await pageA.getByRole('button', { name: 'Sign up' }).click();
    await pageA.getByText('Validation failed.').waitFor();
    await pageA.getByText('Please enter a valid email.').waitFor();
    // Each invalid field shows its message (data[].msg) beside it.
    await until('three field errors', async () => (await pageA.getByTestId('field-error').count()) === 3);
    const emailInvalid = await pageA.getByLabel('Email').getAttribute('aria-invalid');
    check(emailInvalid === 'true', 'the email input is not marked aria-invalid');
    await allLabelled(pageA, 'the signup page');
    await shot(pageA, '01-signup-validation-errors');
    step('signup validation errors are shown per field');

    await signup(pageA, alice);
    step('Alice signed up (and was logged in)');
    await logout(pageA);
    const stored = await pageA.evaluate(() => localStorage.getItem('herald.session'));
    check(stored === null, 'the session is still in localStorage after log out');
    await login(pageA, { ...alice, password: 'wrong-password' });
    await pageA.getByText('Wrong password!').waitFor();
    await shot(pageA, '02-login-wrong-password');
    step('a wrong password shows "Wrong password!"');
    await login(pageA, alice);
    await pageA.getByRole('heading', { name: 'Feed', exact: true }).waitFor();
    const session = JSON.parse(await pageA.evaluate(() => localStorage.getItem('herald.session')));
    check(session && session.token && session.expiresAt > Date.now() + 50 * 60 * 1000, `bad stored session ${JSON.stringify(session)}`);
    step('Alice logged in; the JWT and its expiry are in localStorage');

    await pageB.goto(`${base}/signup`);
    await pageB.getByLabel('Email').fill(alice.email.toUpperCase());
    await pageB.getByLabel('Name').fill(bob.name);
    await pageB.getByLabel('Password').fill(bob.password);
    await pageB.getByRole('button', { name: 'Sign up' }).click();
    await pageB.getByText('E-Mail address already exists!').waitFor();
    step('a taken email is refused with the API message');
    await signup(pageB, bob);
    await logout(pageB);
    await login(pageB, bob);
    await pageB.getByRole('heading', { name: 'Feed', exact: true }).waitFor();
    step('Bob signed up, logged out and logged in');

    // --- Status -------------------------------------------------------------
    const status = pageA.getByRole('textbox', { name: 'Status', exact: true });
    await until('the status to load', async () => (await status.inputValue()) === 'I am new!');
    await status.fill('Shipping Herald');
    await pageA.getByRole('button', { name: 'Update' }).click();
    await pageA.getByText('Status updated.').waitFor();
    await status.fill('   ');
    await pageA.getByRole('button', { name: 'Update' }).click();
    await pageA.locator('.status-card .field__error').waitFor();
    const statusError = (await pageA.locator('.status-card .field__error').textContent()).trim();
    check(statusError.length > 0, 'no message for an empty status');
    await pageA.reload();
    await until('the saved status after a reload', async () => (await pageA.getByRole('textbox', { name: 'Status', exact: true }).inputValue()) === 'Shipping Herald');
    step(`status changed and kept; an empty one is refused ("${statusError}")`);

    // --- Live: create ---------------------------------------------------------
    await A.live();
    await B.live();
    await pageB.getByTestId('empty').waitFor();
    await pageB.evaluate(() => {
      window.__noReload = true;
    });
    await pageA.getByRole('button', { name: 'New post' }).click();
    await fillEditor(A, { title: 'Hi', content: 'Hello from Alice, live on Herald.', image: imagePNG });
    const preview = A.dialog.getByTestId('image-preview');
    await until('the image preview', async () => (await preview.getAttribute('src'))?.startsWith('blob:'));
    await until('the preview to render', () => preview.evaluate((img) => img.complete && img.naturalWidth > 0));
    await allLabelled(pageA, 'the feed with the new post dialog');
    await shot(pageA, '03-new-post-preview');
    await A.dialog.getByRole('button', { name: 'Publish' }).click();
    await A.dialog.getByText('Validation failed, entered data is incorrect.').waitFor();
    step('a short title shows the API message');

    // Every other refusal shows the API's own message, whatever it says.
    const refusals = [
      { what: 'a file that is not an image', file: { name: 'notes.png', mimeType: 'image/png', buffer: Buffer.from('not an image at all') } },
      // A path, not a buffer: Playwright hands a local file to chromium by
      // name, where 11 MiB in a buffer crosses the DevTools protocol in
      // base64 (tens of seconds on a loaded machine).
      { what: 'an image over the size limit', file: hugeFile() },
    ];
    await fillEditor(A, { title: 'First light' });
    for (const r of refusals) {
      await A.dialog.locator('input[type="file"]').setInputFiles(r.file);
      const answer = pageA.waitForResponse((res) => res.url().endsWith('/feed/post') && res.request().method() === 'POST');
      await A.dialog.getByRole('button', { name: 'Publish' }).click();
      const res = await answer;
      let message = null;
      try {
        message = (await res.json()).message;
      } catch {
        // not JSON: the UI shows its own text for the status
      }
      check(res.status() === 413 || res.status() === 422, `${r.what}: status ${res.status()}`);
      const shown = (await A.dialog.getByRole('alert').textContent()).trim();
      check(shown.length > 0 && (message === null || shown === message), `${r.what}: shown "${shown}", the API said "${message}"`);
      step(`${r.what} is refused with ${res.status()} "${shown}"`);
    }
    await A.dialog.locator('input[type="file"]').setInputFiles(imagePNG);
    const createdResponse = pageA.waitForResponse((r) => r.url().endsWith('/feed/post') && r.request().method() === 'POST');
    await A.dialog.getByRole('button', { name: 'Publish' }).click();
    const created = await createdResponse;
    check(created.status() === 201, `POST /feed/post answered ${created.status()}`);
    const postId = (await created.json()).post._id;
    await A.dialog.waitFor({ state: 'detached' });
    await A.cardById(postId).waitFor(); // through the event: the UI does not read the response
    await B.cardById(postId).waitFor();
    await B.card('First light').waitFor();
    check(await pageB.evaluate(() => window.__noReload === true), "Bob's page was reloaded");
    await until("the image in Bob's feed", () => B.cardById(postId).locator('img').evaluate((img) => img.complete && img.naturalWidth > 0));
    await B.total(1);
    check((await B.cardById(postId).getByRole('button', { name: 'Edit' }).count()) === 0, 'Bob is offered to edit Alice’s post');
    check((await A.cardById(postId).getByRole('button', { name: 'Edit' }).count()) === 1, 'Alice is not offered to edit her post');
    await shot(pageA, '04-alice-feed-after-create');
    await shot(pageB, '05-bob-feed-after-create-360px');
    await pageB.getByRole('button', { name: 'New post' }).click();
    await B.dialog.getByLabel('Title').waitFor();
    check(await B.dialog.getByLabel('Title').evaluate((el) => el === document.activeElement), 'the dialog does not start on its title');
    await shot(pageB, '05b-bob-new-post-dialog-360px');
    await pageB.keyboard.press('Escape');
    await B.dialog.waitFor({ state: 'detached' });
    check(
      await pageB.getByRole('button', { name: 'New post' }).evaluate((el) => el === document.activeElement),
      'closing the dialog did not return the focus to its button',
    );
    await noHorizontalScroll(pageB, "Bob's feed at 360 px");
    step("Alice's new post appears in Bob's feed without a reload");

    // --- Live: edit, keeping the image, then replacing it --------------------------
    const firstSrc = await B.cardById(postId).locator('img').getAttribute('src');
    await A.cardById(postId).getByRole('button', { name: 'Edit' }).click();
    check((await A.dialog.getByLabel('Title').inputValue()) === 'First light', 'the editor is not filled with the post');
    await fillEditor(A, { title: 'First light, edited', content: 'Edited: still hello from Alice.' });
    await A.dialog.getByRole('button', { name: 'Save changes' }).click();
    await A.dialog.waitFor({ state: 'detached' });
    await B.card('First light, edited').waitFor();
    await B.cardById(postId).getByText('Edited: still hello from Alice.').waitFor();
    check((await B.cardById(postId).locator('img').getAttribute('src')) === firstSrc, 'keeping the image changed it');
    await until('the kept image to load', () => B.cardById(postId).locator('img').evaluate((img) => img.complete && img.naturalWidth > 0));
    step("Alice's edit (image kept) appears in Bob's feed");

    await A.cardById(postId).getByRole('button', { name: 'Edit' }).click();
    await fillEditor(A, { image: imageJPEG });
    await until('the new preview', async () => (await A.dialog.getByTestId('image-preview').getAttribute('src'))?.startsWith('blob:'));
    await A.dialog.getByRole('button', { name: 'Save changes' }).click();
    await A.dialog.waitFor({ state: 'detached' });
    await until('the replaced image in Bob’s feed', async () => (await B.cardById(postId).locator('img').getAttribute('src')) !== firstSrc);
    await until('the replaced image to load', () => B.cardById(postId).locator('img').evaluate((img) => img.complete && img.naturalWidth > 0));
    // The old file is removed after the change commits (maybe just after the answer).
    await until('the replaced image file to be removed', async () => (await pageB.request.get(firstSrc)).status() === 404);
    step("Alice's edit (image replaced) appears in Bob's feed; the old file is gone");

    // --- Pages ------------------------------------------------------------------
    for (const title of ['Second post', 'Third post']) {
      await pageA.getByRole('button', { name: 'New post' }).click();
      await fillEditor(A, { title, content: `${title}: more from Alice.`, image: imagePNG });
      await A.dialog.getByRole('button', { name: 'Publish' }).click();
      await A.dialog.waitFor({ state: 'detached' });
      await B.card(title).waitFor();
    }
    await B.total(3);
    // Page 1 keeps two posts: the oldest was pushed to page 2.
    await until('two posts on page 1', async () => (await B.feed.getByTestId('post').count()) === 2);
    await B.cardById(postId).waitFor({ state: 'detached' });
    await pageB.getByTestId('page-label').filter({ hasText: 'Page 1 of 2' }).waitFor();
    await pageB.getByRole('button', { name: 'Older' }).click();
    await B.cardById(postId).waitFor();
    await pageB.getByTestId('page-label').filter({ hasText: 'Page 2 of 2' }).waitFor();
    await pageB.getByRole('button', { name: 'Newer' }).click();
    await B.card('Third post').waitFor();
    step('new posts go to the top of page 1; prev/next pages work');

    // --- Single post page, reload-safe and live ---------------------------------
    await pageB.goto(`${base}/post/${postId}`);
    const single = pageB.getByTestId('single-post');
    await single.getByRole('heading', { name: 'First light, edited' }).waitFor();
    await single.getByText('Alice', { exact: true }).waitFor();
    await pageB.reload();
    await single.getByRole('heading', { name: 'First light, edited' }).waitFor();
    await pageB.evaluate(() => {
      window.__noReload = true;
    });
    await A.cardById(postId).waitFor({ state: 'detached' }); // Alice is on page 1, which no longer shows it
    await pageA.goto(`${base}/post/${postId}`);
    await pageA.getByTestId('single-post').getByRole('button', { name: 'Edit' }).click();
    await fillEditor(A, { title: 'First light, final' });
    await A.dialog.getByRole('button', { name: 'Save changes' }).click();
    await A.dialog.waitFor({ state: 'detached' });
    await single.getByRole('heading', { name: 'First light, final' }).waitFor();
    check(await pageB.evaluate(() => window.__noReload === true), "Bob's page was reloaded");
    await until('the single post image', () => single.locator('img').evaluate((img) => img.complete && img.naturalWidth > 0));
    await shot(pageB, '06-bob-single-post-360px');
    await noHorizontalScroll(pageB, 'the single post at 360 px');
    await pageB.goto(`${base}/post/0123456789abcdef01234567`);
    await pageB.getByText('Could not find post.').waitFor();
    step('the single-post page survives a reload, follows edits live, shows 404s');

    // --- Live: delete -------------------------------------------------------------
    const wsMark = bobSockets.length;
    await pageB.goto(`${base}/`);
    await B.card('Third post').waitFor();
    await B.live();
    await until("the upgrade of Bob's socket to WebSocket", () => bobSockets.length > wsMark);
    const handshakeMark = bobHandshakes;
    await pageA.goto(`${base}/`);
    await A.live();
    await pageB.evaluate(() => {
      window.__noReload = true;
    });
    const third = A.card('Third post');
    await third.getByRole('button', { name: 'Delete' }).click();
    await A.dialog.getByRole('heading', { name: 'Delete this post?' }).waitFor();
    await shot(pageA, '07-confirm-delete');
    await A.dialog.getByRole('button', { name: 'Cancel' }).click();
    await A.dialog.waitFor({ state: 'detached' });
    check((await A.card('Third post').count()) === 1, 'cancel deleted the post');
    await third.getByRole('button', { name: 'Delete' }).click();
    await A.dialog.getByRole('button', { name: 'Delete post' }).click();
    await A.dialog.waitFor({ state: 'detached' });
    await A.card('Third post').waitFor({ state: 'detached' });
    await B.card('Third post').waitFor({ state: 'detached' });
    await B.total(2);
    await B.card('First light, final').waitFor(); // the reloaded page 1 pulls the oldest post back
    check(await pageB.evaluate(() => window.__noReload === true), "Bob's page was reloaded");
    await shot(pageB, '08-bob-feed-after-delete-360px');
    step("Alice's delete disappears from Bob's feed without a reload");

    // --- One socket per app --------------------------------------------------------
    // Since the page load above, Bob went feed → post → feed twice in the app.
    await pageB.getByRole('link', { name: 'First light, final' }).click();
    await pageB.getByTestId('single-post').getByRole('heading', { name: 'First light, final' }).waitFor();
    await pageB.getByRole('link', { name: /Back to the feed/ }).click();
    await B.card('First light, final').waitFor();
    await pageB.getByRole('link', { name: 'First light, final' }).click();
    await pageB.getByTestId('single-post').getByRole('heading', { name: 'First light, final' }).waitFor();
    await pageB.getByRole('link', { name: /Back to the feed/ }).click();
    await B.card('First light, final').waitFor();
    await B.live();
    check(bobHandshakes === handshakeMark, `in-app navigation opened ${bobHandshakes - handshakeMark} new Socket.IO connection(s)`);
    check(bobSockets.length === wsMark + 1, `Bob's page opened ${bobSockets.length - wsMark} WebSockets, want 1`);
    check(!bobSockets[wsMark].isClosed(), "Bob's socket closed while he browsed");
    step('in-app navigation keeps one socket');

    // --- Session end: log out closes the socket; a 401 logs out ---------------
    await logout(pageB);
    await until("Bob's socket to close on log out", () => bobSockets[wsMark].isClosed());
    step('log out closes the socket');
    await login(pageB, bob);
    await pageB.getByRole('heading', { name: 'Feed', exact: true }).waitFor();
    await pageB.evaluate(() => {
      const s = JSON.parse(localStorage.getItem('herald.session'));
      s.token = 'not.a.valid-token';
      localStorage.setItem('herald.session', JSON.stringify(s));
    });
    await pageB.reload();
    await pageB.getByRole('heading', { name: 'Log in' }).waitFor();
    await pageB.getByText('Your session is no longer valid. Please log in again.').waitFor();
    check((await pageB.evaluate(() => localStorage.getItem('herald.session'))) === null, 'a refused token stayed stored');
    await shot(pageB, '09-bob-logged-out-after-401');
    step('a 401 ends the session with a message');

    await pageA.evaluate(() => {
      const s = JSON.parse(localStorage.getItem('herald.session'));
      s.expiresAt = Date.now() - 1000;
      localStorage.setItem('herald.session', JSON.stringify(s));
    });
    await pageA.reload();
    await pageA.getByRole('heading', { name: 'Log in' }).waitFor();
    check((await pageA.evaluate(() => localStorage.getItem('herald.session'))) === null, 'an expired session stayed stored');
    step('an expired session is dropped on load');

    // A deep link while logged out comes back after logging in.
    await pageA.goto(`${base}/post/${postId}`);
    await pageA.getByRole('heading', { name: 'Log in' }).waitFor();
    await login(pageA, alice);
    await pageA.getByTestId('single-post').getByRole('heading', { name: 'First light, final' }).waitFor();
    check(new URL(pageA.url()).pathname === `/post/${postId}`, `after logging in Alice is at ${pageA.url()}`);
    step('a deep link survives logging in');

    // The session ends by itself when the token expires: a second tab with a
    // fake clock moves one hour on. Alice's first tab follows it out.
    const pageA2 = await ctxA.newPage();
    pageA2.setDefaultTimeout(30_000);
    pageA2.on('pageerror', (err) => pageErrors.push(`Alice's second tab: ${err}`));
    await pageA2.clock.install();
    await pageA2.goto(`${base}/`);
    await pageA2.getByRole('heading', { name: 'Feed', exact: true }).waitFor();
    await pageA2.clock.fastForward('01:00:05');
    await pageA2.getByText('Your session has expired. Please log in again.').waitFor();
    check((await pageA2.evaluate(() => localStorage.getItem('herald.session'))) === null, 'an expired session stayed stored');
    await pageA.getByRole('heading', { name: 'Log in' }).waitFor();
    step('the session ends when the token expires, in every tab');

    check(pageErrors.length === 0, `uncaught errors in the pages: ${pageErrors.join('; ')}`);
    return { checks, postId };
  } finally {
    await browser.close();
  }
});

// hugeFile writes an 11 MiB file named huge.png (over the 10 MB upload
// limit) to a temporary folder and returns its path.
function hugeFile() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'herald-ui-'));
  const file = path.join(dir, 'huge.png');
  fs.writeFileSync(file, Buffer.alloc(11 << 20, 1));
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  return file;
}
