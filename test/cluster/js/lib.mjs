// Helpers of the cluster browser script (as test/browser/js/lib.mjs). The
// script prints one JSON object per line on stdout; the last is {"event": "result", ...}.
import { chromium } from 'playwright-core';

export function emit(event, fields = {}) {
  process.stdout.write(JSON.stringify({ event, ...fields }) + '\n');
}

export function env(name) {
  const v = process.env[name];
  if (!v) throw new Error(`environment variable ${name} is not set`);
  return v;
}

// launch starts the system's Chromium headless (never a downloaded build).
export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'],
    timeout: 60_000,
  });
}

// until polls an async predicate until it returns a truthy value, and fails
// with desc when timeout ms pass first. It waits on a condition, never for a
// fixed time.
export async function until(desc, fn, timeout = 30_000) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
      last = undefined;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeout} ms waiting for ${desc}${last ? `: ${last.message}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

export function check(cond, msg) {
  if (!cond) throw new Error(`check failed: ${msg}`);
}

// main runs body and prints its result line; any error is the result.
export async function main(body) {
  const timer = setTimeout(() => {
    emit('result', { ok: false, error: 'script deadline exceeded' });
    process.exit(3);
  }, Number(process.env.SCRIPT_TIMEOUT_MS || 240_000));
  try {
    const result = await body();
    emit('result', { ok: true, ...result });
    clearTimeout(timer);
    process.exit(0);
  } catch (err) {
    emit('result', { ok: false, error: String(err && err.stack ? err.stack : err) });
    clearTimeout(timer);
    process.exit(1);
  }
}
