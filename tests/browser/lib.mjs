// Shared helpers for the browser tests (tests/browser/*.mjs): a tiny check runner with cleanup
// and an overall deadline, headless Debian Chromium through playwright-core, loopback HTTP
// servers standing in for a shop, and the Clientela admin API.
//
// A test is `node tests/browser/<name>.mjs` with BASE_URL (the Worker) and ADMIN_KEY (a key with
// every admin scope) in the environment. It prints one line per check and exits 0 on success.

import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { patchAdminPage } from './plant.mjs';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
/** Where screenshots go, for a human to look at. */
export const ARTIFACTS = path.join(REPO, 'target', 'browser');
export const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
// The machine is offline except for loopback: keep Chromium from reaching out at all.
export const CHROMIUM_ARGS = [
  '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

/** The named environment variables, or an error that says which are missing. */
export function requireEnv(...names) {
  const missing = names.filter((n) => !process.env[n]);
  if (missing.length) {
    throw new CheckFailed(`missing environment variable(s) ${missing.join(', ')} ` +
      '(run as: BASE_URL=http://127.0.0.1:8787 ADMIN_KEY=… node tests/browser/<test>.mjs)');
  }
  return Object.fromEntries(names.map((n) => [n, process.env[n]]));
}

export class CheckFailed extends Error {}

export function assert(cond, message) {
  if (!cond) throw new CheckFailed(message);
}

export function assertEq(actual, expected, what) {
  const a = JSON.stringify(actual), e = JSON.stringify(expected);
  if (a !== e) throw new CheckFailed(`${what}: expected ${e}, got ${a}`);
}

/**
 * Runs one browser test: `body(t)` gets `t.check(label, fn)` (prints `ok N - label` or
 * `not ok N - label: why`, and stops the test on failure), `t.defer(fn)` (cleanup, run in reverse
 * order even on failure or timeout), `t.onFailure(fn)` (diagnostics such as a screenshot) and
 * `t.log(...)` (a `#` comment line). Exits the process: 0 when every check passed.
 */
export async function run(name, body, { timeoutMs = 90_000 } = {}) {
  const cleanups = [], diagnostics = [];
  let n = 0, current = null;
  const t = {
    log: (...a) => console.log('#', ...a),
    defer: (fn) => cleanups.push(fn),
    onFailure: (fn) => diagnostics.push(fn),
    async check(label, fn) {
      n += 1;
      current = label;
      try {
        const value = await fn();
        console.log(`ok ${n} - ${label}`);
        current = null;
        return value;
      } catch (e) {
        console.log(`not ok ${n} - ${label}: ${oneLine(e)}`);
        e.reported = true;
        throw e;
      }
    },
  };
  let timer;
  const deadline = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new CheckFailed(`timed out after ${timeoutMs / 1000} s` +
      (current ? ` during "${current}"` : ''))), timeoutMs);
  });
  let code = 0;
  try {
    await Promise.race([body(t), deadline]);
    console.log(`# ${name}: all ${n} checks passed`);
  } catch (e) {
    code = 1;
    if (!e.reported) console.log(current ? `not ok ${n} - ${current}: ${oneLine(e)}` : `not ok ${n + 1} - ${name}: ${oneLine(e)}`);
    if (!(e instanceof CheckFailed) && e.stack) console.error(e.stack);
    for (const fn of diagnostics) await settle(fn, 10_000);
    console.log(`# ${name}: FAILED`);
  } finally {
    clearTimeout(timer);
    for (const fn of cleanups.reverse()) await settle(fn, 10_000);
  }
  // Playwright kills any browser it launched on exit; nothing else may keep us alive.
  process.exit(code);
}

function oneLine(e) {
  const cause = e && e.cause ? ` (${e.cause.code || e.cause.message || e.cause})` : ''; // e.g. fetch's ECONNREFUSED
  return String(((e && e.message) || e) + cause).replace(/\x1b\[[0-9;]*m/g, '') // playwright colours its logs
    .split('\n').map((l) => l.trim()).filter(Boolean).slice(0, 3).join(' | ');
}

/** Runs fn, reporting (not throwing) its error, and gives up after ms. */
async function settle(fn, ms) {
  let timer;
  try {
    await Promise.race([fn(), new Promise((_, r) => { timer = setTimeout(() => r(new Error('timed out')), ms); })]);
  } catch (e) {
    console.error(`# cleanup/diagnostic step failed: ${oneLine(e)}`);
  } finally {
    clearTimeout(timer);
  }
}

/** Polls fn until it returns a truthy value, or throws after timeoutMs naming `what`. */
export async function poll(fn, { timeoutMs = 10_000, intervalMs = 250, what = 'condition' } = {}) {
  const end = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) {
      throw new CheckFailed(`timed out after ${timeoutMs / 1000} s waiting for ${what}` +
        (last ? ` (last error: ${oneLine(last)})` : ''));
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/**
 * A loopback HTTP server. `routes` maps a path (query ignored) to a page
 * (`{status, type, body}` or a function `(req, url) => page`), or is a `(req, res)` handler.
 * Resolves to `{port, origin, url(path), requests, close()}` once listening; port 0 picks a free one.
 */
export async function serve(routes, { port = 0, host = '127.0.0.1' } = {}) {
  const requests = [];
  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, `http://${host}`);
    requests.push({ method: req.method, path: url.pathname + url.search });
    try {
      if (typeof routes === 'function') return await routes(req, res);
      let page = routes[url.pathname];
      if (typeof page === 'function') page = await page(req, url);
      if (!page) page = { status: 404, type: 'text/plain', body: 'not found' };
      res.writeHead(page.status || 200, {
        'Content-Type': page.type || 'text/html; charset=utf-8', 'Cache-Control': 'no-store', ...page.headers,
      });
      res.end(page.body ?? '');
    } catch (e) {
      res.writeHead(500, { 'Content-Type': 'text/plain' });
      res.end(String(e));
    }
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  const actual = server.address().port;
  const origin = `http://${host}:${actual}`;
  return {
    port: actual,
    origin,
    requests,
    url: (p = '/') => origin + p,
    close: () => new Promise((resolve) => {
      server.closeAllConnections?.();
      server.close(() => resolve());
    }),
  };
}

/** A minimal, plausible shop page around `body` (trusted HTML). */
export function shopPage({ title = 'Loja Exemplo', lang = 'pt-BR', body = '' } = {}) {
  return `<!doctype html>
<html lang="${lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title>
<style>
body{font-family:Georgia,"Times New Roman",serif;margin:0;color:#222;background:#faf7f2}
header{background:#2d2a26;color:#fff;padding:1rem 1.25rem;font-size:1.25rem}
main{max-width:40rem;margin:0 auto;padding:1.25rem}
</style>
</head>
<body>
<header>${title}</header>
<main>
${body}
</main>
</body>
</html>
`;
}

/** Headless Debian Chromium. Close it with `browser.close()` (register that with `t.defer`). */
export async function launchBrowser(options = {}) {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    timeout: 30_000,
    ...options,
  });
}

/**
 * A fresh context and page. Console errors, page errors and failed requests are collected into
 * `problems` (strings) so a test can assert there were none or print them on failure.
 */
export async function newPage(browser, { viewport = { width: 1280, height: 800 }, locale = 'en-US', ...rest } = {}) {
  const context = await browser.newContext({ viewport, locale, ...rest });
  context.setDefaultTimeout(10_000);
  const page = await context.newPage();
  const problems = [];
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => problems.push(`request failed: ${r.method()} ${r.url()} ${r.failure()?.errorText || ''}`));
  return { context, page, problems };
}

/** Saves a full-page screenshot to target/browser/<name>.png and returns its path. */
export async function screenshot(page, name) {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, `${name}.png`);
  // A full-page capture is all rendering: on a busy 2-core machine it can take longer than the
  // 10 s that clicks and waits get, without anything being wrong with the page.
  await page.screenshot({ path: file, fullPage: true, timeout: 30_000 });
  return file;
}

/**
 * The admin API with a bearer key. `call(method, path, body)` resolves to
 * `{status, headers, json, text}`; `expect(status, method, path, body)` also checks the status.
 */
export function adminApi(base, key) {
  async function call(method, p, body) {
    const res = await fetch(base + p, {
      method,
      headers: {
        Authorization: `Bearer ${key}`,
        Accept: 'application/json',
        ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(15_000),
    });
    const text = await res.text();
    let json = null;
    try { json = JSON.parse(text); } catch { /* not JSON */ }
    return { status: res.status, headers: res.headers, json, text };
  }
  return {
    call,
    get: (p) => call('GET', p),
    async expect(status, method, p, body) {
      const r = await call(method, p, body);
      assert(r.status === status, `${method} ${p}: expected ${status}, got ${r.status}: ${r.text.slice(0, 300)}`);
      return r.json;
    },
  };
}

/**
 * What the fake mail relay delivered to `email`, oldest first: `{id, to, kind, subject, text, url,
 * unsubscribe_url, preferences_url, …}` per message, read from MAILBOX_URL (which the harness
 * passes). The admin outbox no longer shows the body or the links of a delivered message, so a
 * test reads its links here, as the person would from their inbox.
 */
export async function mailbox(email) {
  const url = process.env.MAILBOX_URL;
  if (!url) throw new CheckFailed('missing environment variable MAILBOX_URL (the fake relay\'s GET /mailbox)');
  const res = await fetch(`${url}${url.includes('?') ? '&' : '?'}to=${encodeURIComponent(email)}`, {
    headers: { Accept: 'application/json' },
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  assert(res.ok, `GET ${url}?to=${email}: status ${res.status}: ${text.slice(0, 200)}`);
  let json = null;
  try { json = JSON.parse(text); } catch { /* checked below */ }
  assert(Array.isArray(json?.messages), `the mailbox should answer {"messages":[…]}, got ${text.slice(0, 200)}`);
  return json.messages;
}

/**
 * Polls the mailbox of `email` until a message of `kind` arrives that is not among `seen`
 * (message ids, or messages) and passes `where`; resolves to the newest such message.
 */
export async function pollMail(email, kind, { seen = [], where = () => true, timeoutMs = 15_000 } = {}) {
  const old = new Set(seen.map((m) => (typeof m === 'string' ? m : m?.id)));
  return poll(async () => {
    const found = (await mailbox(email)).filter((m) => m.kind === kind && !old.has(m.id) && where(m));
    return found[found.length - 1];
  }, { timeoutMs, intervalMs: 250, what: `a new "${kind}" message in the mailbox of ${email}` });
}

/**
 * A workspace page at 1280 × 800 in a browser of its own, closed when the run ends: on failure
 * it prints the browser's problems and a screenshot named `<label>-failure`, and it serves any
 * bug ADMIN_PAGE_PATCH plants (plant.mjs). Resolves to {browser, context, page, problems}.
 */
export async function workspacePage(t, base, label, options = { viewport: { width: 1280, height: 800 } }) {
  const browser = await launchBrowser();
  t.defer(() => browser.close());
  const { context, page, problems } = await newPage(browser, options);
  await patchAdminPage(context, base);
  t.onFailure(async () => {
    if (problems.length) console.error(`# browser problems:\n#   ${problems.join('\n#   ')}`);
    console.error(`# screenshot: ${await screenshot(page, `${label}-failure`)}`);
  });
  return { browser, context, page, problems };
}

export /** RFC 4180: rows of fields; quoted fields may hold commas, doubled quotes and line breaks. */
function parseCsv(text) {
  const rows = [];
  let row = [], field = '', quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { field += '"'; i++; }
      else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"' && field === '') quoted = true;
    else if (c === ',') { row.push(field); field = ''; }
    else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(field); rows.push(row); row = []; field = '';
    } else field += c;
  }
  if (field !== '' || row.length) { row.push(field); rows.push(row); }
  return rows;
}

/**
 * The public API as a shop's visitors reach it: `call(method, path, body, headers)` and
 * `post(path, body, headers)` resolve to `{status, json, text}`. Each call comes from `ip`, or
 * from a random private address, so the per-IP limits never bite and reruns share no bucket.
 */
export function publicApi(base, { ip = null } = {}) {
  const randomIp = () => `10.${1 + Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250)}.${1 + Math.floor(Math.random() * 250)}`;
  async function call(method, p, body, headers = {}) {
    const res = await fetch(base + p, {
      method,
      headers: { 'Content-Type': 'application/json', Accept: 'application/json', 'CF-Connecting-IP': ip || randomIp(), ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(15_000),
    });
    const text = await res.text();
    let json = null;
    try { json = JSON.parse(text); } catch { /* not JSON */ }
    return { status: res.status, json, text };
  }
  return { call, post: (p, body, headers) => call('POST', p, body, headers) };
}
