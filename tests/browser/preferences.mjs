// End-to-end preference center in headless Chromium: a customer signs up (no double opt-in),
// asks for a magic link, opens it in a Portuguese browser, corrects their details, withdraws
// marketing consent, downloads their data, reloads, and finally erases everything — with the admin
// API confirming each step.
//
//   BASE_URL=http://127.0.0.1:8787 ADMIN_KEY=… node tests/browser/preferences.mjs
//
// Prints one line per check; exits 0 when all pass. Screenshots: target/browser/preferences.png
// (desktop, every section open) and target/browser/preferences-phone.png (360×740).
//
// While working on the page, ME_PAGE_FILE=src/pages/me.html serves that file for GET /me (with
// {{lang}} filled in the way the Worker does) instead of the copy compiled into the Worker.

import fs from 'node:fs';
import path from 'node:path';
import {
  REPO, adminApi, assert, assertEq, launchBrowser, newPage, poll, requireEnv, run, screenshot,
} from './lib.mjs';

run('preferences', async (t) => {
  const env = requireEnv('BASE_URL', 'ADMIN_KEY');
  const base = env.BASE_URL.replace(/\/+$/, '');
  const admin = adminApi(base, env.ADMIN_KEY);
  const tag = `${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
  const email = `prefs-${tag}@example.com`;
  // Our own client IP for the API calls made from Node, so reruns don't share a rate-limit bucket.
  const ip = `10.${1 + Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250)}.${1 + Math.floor(Math.random() * 250)}`;
  t.log(`worker ${base}, email ${email}`);

  const publicCall = async (method, p, body, headers = {}) => {
    const res = await fetch(base + p, {
      method,
      headers: { 'Content-Type': 'application/json', Accept: 'application/json', 'CF-Connecting-IP': ip, ...headers },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(15_000),
    });
    const text = await res.text();
    let json = null;
    try { json = JSON.parse(text); } catch { /* not JSON */ }
    return { status: res.status, json, text };
  };
  const contacts = async () => {
    const r = await admin.expect(200, 'GET', `/admin/v1/contacts?email=${encodeURIComponent(email)}`);
    assert(Array.isArray(r?.contacts), `expected {"contacts":[…]}, got ${JSON.stringify(r)}`);
    return r.contacts;
  };
  const contact = async () => {
    const list = await contacts();
    assertEq(list.length, 1, `contacts for ${email}`);
    return list[0];
  };

  let formId = '';
  await t.check('admin API creates a form without double opt-in', async () => {
    const form = await admin.expect(201, 'POST', '/admin/v1/forms', {
      name: `Preferences test ${tag}`,
      allowed_origins: [],
      locale: 'pt-BR',
      double_opt_in: false,
      fields: [
        { key: 'email', type: 'email', required: true, label: { en: 'Email', 'pt-BR': 'E-mail' } },
        { key: 'name', type: 'text', max_len: 100, label: { en: 'Name', 'pt-BR': 'Nome' } },
      ],
      consents: [{
        purpose: 'marketing_email', required: true, policy_version: '2026-01',
        text: { en: 'I agree to receive offers by email', 'pt-BR': 'Aceito receber ofertas por e-mail' },
      }],
    });
    assert(/^frm_/.test(form?.id || ''), `expected an id like frm_…, got ${JSON.stringify(form)}`);
    formId = form.id;
  });

  await t.check('a signup through the form makes an active contact at once', async () => {
    const r = await publicCall('POST', `/v1/forms/${formId}/submissions`, {
      fields: { email, name: 'Ana' }, consents: { marketing_email: true },
    });
    assertEq(r.status, 202, `submission status (${r.text.slice(0, 200)})`);
    const c = await poll(async () => {
      const list = await contacts();
      return list.length === 1 && list[0].status === 'active' && list[0];
    }, { timeoutMs: 10_000, what: `contact ${email} with status "active"` });
    assertEq(c.name, 'Ana', 'name');
    assertEq(c.consents?.[0]?.granted, true, 'marketing consent granted');
  });

  let magicUrl = '';
  await t.check('a requested magic link lands in the outbox', async () => {
    const r = await publicCall('POST', '/v1/me/link', { email }, { 'Accept-Language': 'pt-BR' });
    assertEq(r.status, 202, `link request status (${r.text.slice(0, 200)})`);
    const message = await poll(async () => {
      const o = await admin.expect(200, 'GET', `/admin/v1/outbox?to=${encodeURIComponent(email)}`);
      return (o?.messages || []).find((m) => m.kind === 'magic_link' && m.url);
    }, { timeoutMs: 10_000, what: `a magic_link message to ${email}` });
    magicUrl = message.url;
    assert(magicUrl.startsWith(`${base}/me?t=`), `magic link should start with ${base}/me?t=, got ${magicUrl}`);
  });

  const browser = await launchBrowser();
  t.defer(() => browser.close());
  const { context, page, problems } = await newPage(browser, { locale: 'pt-BR' });
  t.onFailure(async () => {
    if (problems.length) console.error(`# browser problems:\n#   ${problems.join('\n#   ')}`);
    console.error(`# screenshot: ${await screenshot(page, 'preferences-failure')}`);
  });

  if (process.env.ME_PAGE_FILE) {
    const file = path.resolve(REPO, process.env.ME_PAGE_FILE);
    t.log(`serving GET /me from ${file} instead of the Worker's copy`);
    const tags = { en: 'en', pt: 'pt-BR', ro: 'ro', ru: 'ru' };
    await context.route((url) => url.href.startsWith(`${base}/me`) && new URL(url.href).pathname === '/me', async (route) => {
      const accept = route.request().headers()['accept-language'] || '';
      const lang = accept.split(',').map((s) => tags[s.trim().split(/[-;]/)[0].toLowerCase()]).find(Boolean) || 'en';
      await route.fulfill({
        status: 200,
        headers: {
          'Content-Type': 'text/html; charset=utf-8',
          'Content-Security-Policy': "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'",
        },
        body: fs.readFileSync(file, 'utf8').replaceAll('{{lang}}', lang),
      });
    });
  }

  const requests = [];
  context.on('request', (r) => { if (r.url().startsWith(`${base}/v1/`)) requests.push(`${r.method()} ${new URL(r.url()).pathname}`); });
  const apiResponse = (method, pathname) => (r) => r.request().method() === method && new URL(r.url()).pathname === pathname;
  const statusText = () => page.locator('#me-status').textContent().then((s) => (s || '').trim());
  const waitForStatus = async (re, what) => {
    try {
      await page.waitForFunction((src) => new RegExp(src, 'i').test(document.getElementById('me-status')?.textContent || ''), re.source, { timeout: 5_000 });
    } catch {
      throw new Error(`the live region should say ${what} (${re}), it says "${await statusText()}"`);
    }
  };
  const signedIn = page.locator('#state-app');

  await t.check('the magic link opens the preference center, in Portuguese', async () => {
    const [response, session] = await Promise.all([
      page.goto(magicUrl),
      page.waitForResponse(apiResponse('POST', '/v1/me/session')),
    ]);
    assertEq(response.status(), 200, 'GET /me status');
    assert((response.headers()['content-security-policy'] || '').includes("default-src 'none'"), 'GET /me should carry the strict CSP');
    assertEq(session.status(), 200, 'POST /v1/me/session status');
    await signedIn.waitFor({ state: 'visible' });
    assertEq(await page.getAttribute('html', 'lang'), 'pt-BR', 'html lang');
    assertEq((await page.locator('#state-app h1').innerText()).trim(), 'Suas preferências', 'main heading');
    assertEq(await page.title(), 'Suas preferências', 'document title');
    assertEq(await page.locator('#me-email').inputValue(), email, 'email shown');
    assert(await page.locator('#me-email').evaluate((i) => i.readOnly), 'the email must be read-only');
    assertEq(await page.locator('#me-name').inputValue(), 'Ana', 'name field');
    assert(await page.locator('#me-consent-marketing_email').isChecked(), 'marketing_email should be on');
  });

  await t.check('the token left the address bar (and is not stored)', async () => {
    const token = new URL(magicUrl).searchParams.get('t');
    assertEq(page.url(), `${base}/me`, 'address after the exchange');
    const stored = await page.evaluate(() => JSON.stringify(Object.entries(sessionStorage)));
    assert(!stored.includes(token), 'the link token is in sessionStorage');
    assert(JSON.parse(stored).some(([, v]) => { try { return !!JSON.parse(v).session; } catch { return false; } }),
      `the session should be in sessionStorage, found ${stored}`);
    const local = await page.evaluate(() => localStorage.length);
    assertEq(local, 0, 'localStorage entries');
  });

  await t.check('the used link shows the expired state with a request-a-new-link form that works', async () => {
    const other = await context.newPage(); // a new tab: its own sessionStorage
    try {
      await other.goto(magicUrl);
      await other.locator('#me-link-email').waitFor({ state: 'visible' });
      assertEq((await other.locator('#link-title').innerText()).trim(), 'Este link expirou ou já foi usado', 'expired heading');
      assertEq(other.url(), `${base}/me`, 'address after a failed exchange');
      await other.locator('#me-link-email').fill('not-an-email');
      await other.locator('#me-link-send').click();
      await other.locator('#me-link-email-error').waitFor({ state: 'visible' });
      assertEq(await other.locator('#me-link-email').getAttribute('aria-invalid'), 'true', 'aria-invalid on a bad address');
      await other.locator('#me-link-email').fill(email);
      const [r] = await Promise.all([
        other.waitForResponse(apiResponse('POST', '/v1/me/link')),
        other.locator('#me-link-send').click(),
      ]);
      assertEq(r.status(), 202, 'POST /v1/me/link status');
      await other.waitForFunction(() => /novo link/.test(document.getElementById('me-status')?.textContent || ''), null, { timeout: 5_000 });
      assert(await other.locator('#link-result').isVisible(), 'the result should stay on the page');
    } finally {
      await other.close();
    }
  });

  await t.check('the page is labelled and structured (headings, labels, live region, switches)', async () => {
    const report = await page.evaluate(() => {
      const visible = (e) => !!(e.offsetWidth || e.offsetHeight || e.getClientRects().length);
      const controls = [...document.querySelectorAll('#state-app input, #state-app select, #state-app textarea')];
      return {
        unlabelled: controls.filter((i) => i.labels.length === 0).map((i) => i.id || i.name),
        h1: [...document.querySelectorAll('h1')].filter(visible).length,
        h2: [...document.querySelectorAll('#state-app section > h2')].map((h) => h.textContent.trim()),
        live: [document.getElementById('me-status').getAttribute('role'), document.getElementById('me-status').getAttribute('aria-live')],
        switchRole: document.getElementById('me-consent-marketing_email').getAttribute('role'),
        consentLabel: document.getElementById('me-consent-marketing_email').labels[0]?.textContent.trim(),
        legends: [...document.querySelectorAll('#state-app fieldset')].map((f) => f.querySelector('legend')?.textContent.trim() || ''),
      };
    });
    assertEq(report.unlabelled, [], 'inputs without a <label>');
    assertEq(report.h1, 1, 'visible h1 headings');
    assertEq(report.h2, ['Seus dados', 'Seus consentimentos', 'O que guardamos', 'Baixar meus dados', 'Apagar meus dados'], 'section headings');
    assertEq(report.live, ['status', 'polite'], 'live region role and politeness');
    assertEq(report.switchRole, 'switch', 'consent input role');
    assertEq(report.consentLabel, 'E-mails de marketing', 'consent label');
    assert(report.legends.length >= 2 && report.legends.every(Boolean), `every fieldset needs a legend: ${JSON.stringify(report.legends)}`);
  });

  await t.check('keyboard only: Tab walks the details form in order and Enter submits it', async () => {
    await page.locator('#me-name').focus();
    const order = ['me-name'];
    for (let i = 0; i < 14; i += 1) {
      await page.keyboard.press('Tab');
      const id = await page.evaluate(() => document.activeElement.id);
      if (id !== order[order.length - 1]) order.push(id); // a date input has day, month, year stops

      if (id === 'me-save') break;
    }
    assertEq(order, ['me-name', 'me-phone', 'me-country', 'me-city', 'me-birth-date', 'me-gender', 'me-locale', 'me-channel-email', 'me-save'], 'tab order');
    const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
    assert(outline !== 'none', 'the focused button should show a focus outline');
    await page.keyboard.press('Enter');
    await waitForStatus(/Nada para salvar/, 'that there was nothing to save');
    assert(!requests.includes('PATCH /v1/me'), 'an unchanged form must not send a PATCH');
  });

  await t.check("the server's 400 for a bad phone shows next to the field, and nothing is saved", async () => {
    await page.locator('#me-phone').fill('12');
    await page.locator('#me-name').fill('Ana Lima');
    const [r] = await Promise.all([
      page.waitForResponse(apiResponse('PATCH', '/v1/me')),
      page.locator('#me-save').click(),
    ]);
    assertEq(r.status(), 400, 'PATCH status');
    const body = await r.json();
    assert(body?.error?.fields?.phone, `400 should name phone: ${JSON.stringify(body)}`);
    const error = page.locator('#me-phone-error');
    await error.waitFor({ state: 'visible' });
    assert((await error.innerText()).includes('+55 11 91234-5678'), `phone error text: ${await error.innerText()}`);
    assertEq(await page.locator('#me-phone').getAttribute('aria-invalid'), 'true', 'phone aria-invalid');
    assert((await page.locator('#me-phone').getAttribute('aria-describedby') || '').split(' ').includes('me-phone-error'), 'phone not described by its error');
    assertEq(await page.evaluate(() => document.activeElement.id), 'me-phone', 'focus after the error');
    await waitForStatus(/Corrija os campos/, 'to correct the fields');
    assertEq((await contact()).name, 'Ana', 'name after a refused save');
  });

  await t.check('changing name, city and country sends only those fields and says it saved', async () => {
    await page.locator('#me-phone').fill('');
    await page.locator('#me-name').fill('Ana Lima');
    await page.locator('#me-city').fill('Campinas');
    await page.locator('#me-country').selectOption('BR');
    assertEq((await page.locator('#me-country option:checked').innerText()).trim(), 'Brasil', 'country shown in Portuguese');
    const [r] = await Promise.all([
      page.waitForResponse(apiResponse('PATCH', '/v1/me')),
      page.locator('#me-save').click(),
    ]);
    assertEq(r.status(), 200, 'PATCH status');
    assertEq(JSON.parse(r.request().postData() || '{}'), { name: 'Ana Lima', country: 'BR', city: 'Campinas' }, 'PATCH body');
    await waitForStatus(/Suas alterações foram salvas/, 'that the changes were saved');
    assert(await page.locator('#me-phone-error').isHidden(), 'the phone error should be gone');
    assert(await page.locator('#me-saved').isVisible(), 'the inline "saved" note should show');
  });

  await t.check('the admin API sees the new details', async () => {
    const c = await contact();
    assertEq([c.name, c.city, c.country, c.phone], ['Ana Lima', 'Campinas', 'BR', null], 'name, city, country, phone');
  });

  await t.check('turning marketing emails off is saved at once and confirmed', async () => {
    const box = page.locator('#me-consent-marketing_email');
    const [r] = await Promise.all([
      page.waitForResponse(apiResponse('PUT', '/v1/me/consents/marketing_email')),
      box.uncheck(),
    ]);
    assertEq(r.status(), 200, 'PUT status');
    assertEq(JSON.parse(r.request().postData() || '{}'), { granted: false }, 'PUT body');
    await waitForStatus(/E-mails de marketing: desativado/, 'that marketing emails are off');
    assert(!(await box.isChecked()), 'the switch should stay off');
  });

  await t.check('the admin API shows the consent withdrawn and the contact unsubscribed', async () => {
    await poll(async () => {
      const c = await contact();
      return c.consents?.[0]?.granted === false && c.status === 'unsubscribed';
    }, { timeoutMs: 5_000, what: 'consents[0].granted false and status "unsubscribed"' });
  });

  await t.check('the consent history lists the self-service withdrawal', async () => {
    await page.locator('#history summary').click();
    const row = page.locator('#history-body tr').filter({ hasText: 'Retirado' });
    await row.first().waitFor({ state: 'visible' });
    const text = await row.first().innerText();
    assert(/E-mails de marketing/.test(text) && /autoatendimento/i.test(text), `history row: ${text}`);
    assert(await page.locator('#history-body tr').filter({ hasText: 'Concedido' }).count() >= 1, 'the signup grant should be listed too');
    assert((await page.locator('#account-facts').textContent()).includes('Descadastrado'), 'status should show as unsubscribed');
  });

  let preferencesUrl = '';
  await t.check('"download my data" saves my-data.json holding my data', async () => {
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.locator('#me-download').click(),
    ]);
    assertEq(download.suggestedFilename(), 'my-data.json', 'file name');
    const file = await download.path();
    const data = JSON.parse(fs.readFileSync(file, 'utf8'));
    assertEq(data?.data?.email, email, 'data.email');
    assertEq(data?.data?.name, 'Ana Lima', 'data.name');
    preferencesUrl = data?.data?.links?.preferences_url || '';
    assert(preferencesUrl.startsWith(`${base}/me?p=`), `data.links.preferences_url should start with ${base}/me?p=, got ${preferencesUrl}`);
    await waitForStatus(/my-data\.json/, 'that the file was downloaded');
  });

  await t.check('a reload keeps the session and shows the saved data', async () => {
    await page.reload();
    await signedIn.waitFor({ state: 'visible' });
    assertEq(page.url(), `${base}/me`, 'address after reload');
    assertEq(await page.locator('#me-name').inputValue(), 'Ana Lima', 'name after reload');
    assertEq(await page.locator('#me-city').inputValue(), 'Campinas', 'city after reload');
    assertEq(await page.locator('#me-country').inputValue(), 'BR', 'country after reload');
    assert(!(await page.locator('#me-consent-marketing_email').isChecked()), 'marketing_email should still be off');
  });

  await t.check('the signed preferences link (from the export) opens the page, more than once', async () => {
    for (let i = 0; i < 2; i += 1) {
      const other = await context.newPage(); // a new tab: no session of its own
      try {
        const [, r] = await Promise.all([other.goto(preferencesUrl), other.waitForResponse(apiResponse('POST', '/v1/me/session'))]);
        assertEq(r.status(), 200, `POST /v1/me/session status (visit ${i + 1})`);
        await other.locator('#state-app').waitFor({ state: 'visible' });
        assertEq(other.url(), `${base}/me`, 'address after the exchange');
        assertEq(await other.locator('#me-name').inputValue(), 'Ana Lima', 'name');
      } finally {
        await other.close();
      }
    }
  });

  await t.check('screenshot, every section open: target/browser/preferences.png', async () => {
    await page.evaluate(() => document.querySelectorAll('details').forEach((d) => { d.open = true; }));
    t.log(await screenshot(page, 'preferences'));
  });

  await t.check('on a 360×740 phone nothing scrolls sideways: target/browser/preferences-phone.png', async () => {
    await page.setViewportSize({ width: 360, height: 740 });
    await page.evaluate(() => window.scrollTo(0, 0));
    const widths = await page.evaluate(() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]);
    assert(widths[0] <= widths[1], `page is ${widths[0]} px wide in a ${widths[1]} px viewport`);
    t.log(await screenshot(page, 'preferences-phone'));
    await page.setViewportSize({ width: 1280, height: 800 });
  });

  await t.check('deleting asks for an explicit confirmation first', async () => {
    const confirm = page.locator('#me-delete-confirm');
    assert(await confirm.isHidden(), 'the final button must not show before the first step');
    await page.locator('#me-delete').click();
    await confirm.waitFor({ state: 'visible' });
    assertEq(await page.locator('#me-delete').getAttribute('aria-expanded'), 'true', 'aria-expanded');
    await confirm.click(); // without ticking the box
    await page.locator('#me-delete-ack-error').waitFor({ state: 'visible' });
    assertEq(await page.evaluate(() => document.activeElement.id), 'me-delete-ack', 'focus after a missing tick');
    assert(!requests.includes('DELETE /v1/me'), 'nothing may be deleted before the box is ticked');
    assertEq((await contacts()).length, 1, 'contacts after the unconfirmed attempt');
  });

  await t.check('confirming erases the data and shows the final state', async () => {
    await page.locator('#me-delete-ack').check();
    const [r] = await Promise.all([
      page.waitForResponse(apiResponse('DELETE', '/v1/me')),
      page.locator('#me-delete-confirm').click(),
    ]);
    assertEq(r.status(), 200, 'DELETE status');
    await page.locator('#me-erased').waitFor({ state: 'visible' });
    assertEq((await page.locator('#me-erased h1').innerText()).trim(), 'Seus dados foram apagados', 'erased heading');
    assert(await signedIn.isHidden(), 'the data must no longer be on screen');
    assertEq(await page.evaluate(() => sessionStorage.length), 0, 'sessionStorage entries');
  });

  await t.check('the admin API no longer finds the contact', async () => {
    assertEq(await contacts(), [], 'contacts');
  });

  await t.check('after erasure a reload asks for a new link', async () => {
    await page.reload();
    await page.locator('#me-link-email').waitFor({ state: 'visible' });
    assertEq((await page.locator('#link-title').innerText()).trim(), 'Acesse suas preferências', 'heading without a link');
  });

  await t.check('after erasure the preferences link no longer opens anything', async () => {
    const other = await context.newPage();
    try {
      await other.goto(preferencesUrl);
      await other.locator('#me-link-email').waitFor({ state: 'visible' });
      assertEq((await other.locator('#link-title').innerText()).trim(), 'Este link expirou ou já foi usado', 'heading');
      assert(await other.locator('#state-app').isHidden(), 'no data may show');
    } finally {
      await other.close();
    }
  });

  await t.check('the page had no script errors', async () => {
    // Chrome logs every non-2xx fetch; the 400 (bad phone) and 410 (used link) above are expected.
    const real = problems.filter((p) => !/Failed to load resource: the server responded with a status of (400|410)/.test(p));
    assertEq(real, [], 'browser problems');
  });
});
