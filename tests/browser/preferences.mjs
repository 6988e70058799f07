// End-to-end preference center in headless Chromium. Full mode: a customer signs up (no double
// opt-in), asks for a sign-in (magic) link, opens it in a Portuguese browser, corrects their
// details, withdraws marketing consent, downloads their data, reloads, and finally erases
// everything — with the admin API confirming each step. Preferences mode: a second customer opens
// the preferences link from a survey email in an English browser, sees only the consents (email
// masked), changes them, asks for a sign-in link and follows it into full mode, then signs out
// everywhere, which kills the emailed link. Links are read from the fake relay's mailbox, as a
// person reads them from their inbox (the admin outbox keeps no link once delivered).
//
//   BASE_URL=http://127.0.0.1:8787 ADMIN_KEY=… MAILBOX_URL=http://127.0.0.1:…/mailbox node tests/browser/preferences.mjs
//
// Prints one line per check; exits 0 when all pass. Screenshots: target/browser/preferences.png
// (desktop, every section open), target/browser/preferences-phone.png (360×740) and
// target/browser/preferences-limited.png (preferences mode).
//
// While working on the page, ME_PAGE_FILE=src/pages/me.html serves that file for GET /me (with
// {{lang}} filled in the way the Worker does) instead of the copy compiled into the Worker.

import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import {
  REPO, adminApi, assert, assertEq, launchBrowser, mailbox, newPage, poll, pollMail, requireEnv, run, screenshot, publicApi,
} from './lib.mjs';

run('preferences', async (t) => {
  const env = requireEnv('BASE_URL', 'ADMIN_KEY', 'MAILBOX_URL');
  const base = env.BASE_URL.replace(/\/+$/, '');
  const admin = adminApi(base, env.ADMIN_KEY);
  const tag = `${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
  const email = `prefs-${tag}@example.com`;
  // The second customer, who only ever gets the preferences link of a survey email.
  const email2 = `bea-${tag}@example.com`;
  const masked2 = 'b***@example.com';
  // Our own client IP for the API calls made from Node, so reruns don't share a rate-limit bucket.
  const ip = `10.${1 + Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250)}.${1 + Math.floor(Math.random() * 250)}`;
  t.log(`worker ${base}, emails ${email} and ${email2}`);

  const publicCall = publicApi(base, { ip }).call;
  const contacts = async (who = email) => {
    const r = await admin.expect(200, 'GET', `/admin/v1/contacts?email=${encodeURIComponent(who)}`);
    assert(Array.isArray(r?.contacts), `expected {"contacts":[…]}, got ${JSON.stringify(r)}`);
    return r.contacts;
  };
  const contact = async (who = email) => {
    const list = await contacts(who);
    assertEq(list.length, 1, `contacts for ${who}`);
    return list[0];
  };
  const consentOf = (c, purpose) => (c.consents || []).find((x) => x.purpose === purpose);

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

  await t.check('signups through the form make two active contacts at once', async () => {
    for (const [who, name] of [[email, 'Ana'], [email2, 'Bea']]) {
      const r = await publicCall('POST', `/v1/forms/${formId}/submissions`, {
        fields: { email: who, name }, consents: { marketing_email: true },
      });
      assertEq(r.status, 202, `submission status for ${who} (${r.text.slice(0, 200)})`);
      const c = await poll(async () => {
        const list = await contacts(who);
        return list.length === 1 && list[0].status === 'active' && list[0];
      }, { timeoutMs: 10_000, what: `contact ${who} with status "active"` });
      assertEq(c.name, name, 'name');
      assertEq(consentOf(c, 'marketing_email')?.granted, true, 'marketing consent granted');
    }
  });

  // Survey emails carry a signed preferences link (and a way out of survey emails).
  const preferencesUrls = {};
  await t.check('a survey email brings each customer a signed preferences link', async () => {
    const survey = await admin.expect(201, 'POST', '/admin/v1/surveys', {
      name: `Preferences survey ${tag}`, locale: 'en', expires_after_days: 30,
      questions: [{ key: 'nps', type: 'nps', required: true, text: { en: 'How likely are you to recommend us?' } }],
    });
    assert(/^srv_/.test(survey?.id || ''), `expected an id like srv_…, got ${JSON.stringify(survey)}`);
    const inv = await admin.expect(201, 'POST', `/admin/v1/surveys/${survey.id}/invitations`, {
      invitations: [{ email }, { email: email2 }], send_email: true,
    });
    assertEq(inv?.invitations?.length, 2, `invitations made (${JSON.stringify(inv)})`);
    for (const who of [email, email2]) {
      const message = await pollMail(who, 'survey_invitation', { where: (m) => !!m.preferences_url });
      const url = message.preferences_url;
      assert(url.startsWith(`${base}/me?p=`), `preferences_url should start with ${base}/me?p=, got ${url}`);
      assert(new URL(url).searchParams.get('p').includes('.'), `a preferences link is signed (has dots): ${url}`);
      assert((message.unsubscribe_url || '').startsWith(`${base}/unsubscribe?t=`), `unsubscribe_url: ${message.unsubscribe_url}`);
      preferencesUrls[who] = url;
    }
  });
  const preferencesUrl = () => preferencesUrls[email];

  let magicUrl = '';
  await t.check('a requested sign-in (magic) link reaches the mailbox', async () => {
    const r = await publicCall('POST', '/v1/me/link', { email }, { 'Accept-Language': 'pt-BR' });
    assertEq(r.status, 202, `link request status (${r.text.slice(0, 200)})`);
    const message = await pollMail(email, 'magic_link', { where: (m) => !!m.url });
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

  // While working on the page: serve that file for GET /me in `ctx` instead of the Worker's copy.
  const servePageFile = async (ctx) => {
    if (!process.env.ME_PAGE_FILE) return;
    const file = path.resolve(REPO, process.env.ME_PAGE_FILE);
    t.log(`serving GET /me from ${file} instead of the Worker's copy`);
    const tags = { en: 'en', pt: 'pt-BR', ro: 'ro', ru: 'ru' };
    await ctx.route((url) => url.href.startsWith(`${base}/me`) && new URL(url.href).pathname === '/me', async (route) => {
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
  };
  await servePageFile(context);

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
    // The words beside each switch are the server's notice, in the page's language.
    assertEq((await page.locator('#me-consent-marketing_email-desc').innerText()).trim(),
      'Quero receber ofertas e novidades por e-mail.', 'marketing_email notice');
    const surveys = page.locator('#me-consent-satisfaction_surveys');
    assert(await surveys.isChecked(), 'satisfaction_surveys is on (legitimate interest) until objected to');
    assertEq((await surveys.evaluate((i) => i.labels[0]?.textContent || '')).trim(), 'Pesquisas por e-mail após uma compra', 'satisfaction_surveys label');
    for (const id of ['sec-details', 'sec-hold', 'sec-download', 'sec-signout-all', 'sec-delete']) {
      assert(await page.locator(`#${id}`).isVisible(), `#${id} should show in full mode`);
    }
    assert(await page.locator('#sec-signin').isHidden(), 'no sign-in offer in full mode');
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
        h2: [...document.querySelectorAll('#state-app section > h2')].filter(visible).map((h) => h.textContent.trim()),
        live: [document.getElementById('me-status').getAttribute('role'), document.getElementById('me-status').getAttribute('aria-live')],
        switchRole: document.getElementById('me-consent-marketing_email').getAttribute('role'),
        consentLabel: document.getElementById('me-consent-marketing_email').labels[0]?.textContent.trim(),
        legends: [...document.querySelectorAll('#state-app fieldset')].map((f) => f.querySelector('legend')?.textContent.trim() || ''),
      };
    });
    assertEq(report.unlabelled, [], 'inputs without a <label>');
    assertEq(report.h1, 1, 'visible h1 headings');
    assertEq(report.h2, ['Seus dados', 'Seus consentimentos', 'O que guardamos', 'Baixar meus dados', 'Sair de todos os lugares', 'Apagar meus dados'], 'section headings');
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
      return consentOf(c, 'marketing_email')?.granted === false && c.status === 'unsubscribed';
    }, { timeoutMs: 5_000, what: 'marketing_email granted false and status "unsubscribed"' });
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
    assertEq(data?.data?.links, undefined, 'data.links (signed links are no longer part of the export)');
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

  await t.check('the preferences link (from the survey email) opens the consents only, more than once', async () => {
    for (let i = 0; i < 2; i += 1) {
      const other = await context.newPage(); // a new tab: no session of its own
      try {
        const [, r] = await Promise.all([other.goto(preferencesUrl()), other.waitForResponse(apiResponse('POST', '/v1/me/session'))]);
        assertEq(r.status(), 200, `POST /v1/me/session status (visit ${i + 1})`);
        assertEq((await r.json())?.scope, 'preferences', 'session scope');
        await other.locator('#state-app').waitFor({ state: 'visible' });
        await other.locator('#me-consent-marketing_email').waitFor({ state: 'visible' });
        assertEq(other.url(), `${base}/me`, 'address after the exchange');
        assert((await other.locator('#who').innerText()).includes('p***@example.com'), `masked email: ${await other.locator('#who').innerText()}`);
        assert(await other.locator('#sec-details').isHidden(), 'the profile must not show');
        assert(!(await other.content()).includes(email), 'the full address must not be in the page');
        assert(!(await other.locator('#me-consent-marketing_email').isChecked()), 'marketing_email is off (withdrawn above)');
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
      await other.goto(preferencesUrl());
      await other.locator('#me-link-email').waitFor({ state: 'visible' });
      assertEq((await other.locator('#link-title').innerText()).trim(), 'Este link expirou ou já foi usado', 'heading');
      assert((await other.locator('#link-reason').innerText()).includes('90 dias'), `reason: ${await other.locator('#link-reason').innerText()}`);
      assert(await other.locator('#state-app').isHidden(), 'no data may show');
    } finally {
      await other.close();
    }
  });

  // ---- Preferences mode: the link in a survey email, then a sign-in link from the mailbox ------------
  // Another customer, an English browser, a context of its own (no shared session storage).
  const limited = await newPage(browser, { locale: 'en-US' });
  await servePageFile(limited.context);
  t.onFailure(async () => {
    if (limited.problems.length) console.error(`# browser problems (preferences mode):\n#   ${limited.problems.join('\n#   ')}`);
    console.error(`# screenshot: ${await screenshot(limited.page, 'preferences-limited-failure')}`);
  });
  const lp = limited.page;
  const sent = []; // [method path, accept-language] of every API call of this context
  limited.context.on('request', (r) => {
    if (r.url().startsWith(`${base}/v1/`)) sent.push([`${r.method()} ${new URL(r.url()).pathname}`, r.headers()['accept-language'] || '']);
  });
  const lpStatus = async (re, what) => {
    try {
      await lp.waitForFunction((src) => new RegExp(src, 'i').test(document.getElementById('me-status')?.textContent || ''), re.source, { timeout: 5_000 });
    } catch {
      throw new Error(`the live region should say ${what} (${re}), it says "${(await lp.locator('#me-status').textContent() || '').trim()}"`);
    }
  };
  const FULL_ONLY = ['sec-details', 'sec-hold', 'sec-download', 'sec-delete', 'history'];
  const noticeHash = (text) => crypto.createHash('sha256').update(text, 'utf8').digest('hex');

  let shownDoc = null;
  await t.check('preferences mode: the survey email\'s link shows the masked email and the consents, nothing else', async () => {
    const [, session, me] = await Promise.all([
      lp.goto(preferencesUrls[email2]),
      lp.waitForResponse(apiResponse('POST', '/v1/me/session')),
      lp.waitForResponse(apiResponse('GET', '/v1/me')),
    ]);
    assertEq(session.status(), 200, 'POST /v1/me/session status');
    assertEq((await session.json())?.scope, 'preferences', 'session scope');
    assertEq(me.status(), 200, 'GET /v1/me status');
    shownDoc = await me.json();
    assertEq(shownDoc?.scope, 'preferences', 'GET /v1/me scope');
    await lp.locator('#state-app').waitFor({ state: 'visible' });
    assertEq(lp.url(), `${base}/me`, 'address after the exchange');
    const token = new URL(preferencesUrls[email2]).searchParams.get('p');
    assert(!(await lp.evaluate(() => JSON.stringify(Object.entries(sessionStorage)))).includes(token), 'the link token is in sessionStorage');
    assertEq((await lp.locator('#who').innerText()).trim(), `Preferences for ${masked2}`, 'who line');
    assert(!(await lp.content()).includes(email2), 'the full address must not be in the page');
    for (const purpose of ['marketing_email', 'satisfaction_surveys']) {
      const box = lp.locator(`#me-consent-${purpose}`);
      assert(await box.isVisible(), `the ${purpose} switch should show`);
      assert(await box.isChecked(), `${purpose} should be on`);
      assertEq(await box.getAttribute('role'), 'switch', `${purpose} role`);
    }
    assertEq((await lp.locator('#me-consent-satisfaction_surveys').evaluate((i) => i.labels[0]?.textContent || '')).trim(),
      'Survey emails after a purchase', 'satisfaction_surveys label');
    // Word for word what the server will hash, in the page's language.
    for (const c of shownDoc.consents) {
      assertEq((await lp.locator(`#me-consent-${c.purpose}-desc`).innerText()).trim(), c.notice, `${c.purpose} notice shown`);
    }
    assertEq(shownDoc.consents.find((c) => c.purpose === 'marketing_email')?.notice, 'I want to receive offers and news by email.', 'English notice');
    for (const id of FULL_ONLY) assert(await lp.locator(`#${id}`).isHidden(), `#${id} must not show in preferences mode`);
    assertEq(await lp.locator('#me-name').inputValue(), '', 'no profile data is filled in, even hidden');
    assert(await lp.locator('#sec-signin').isVisible(), 'the sign-in offer should show');
    assert(await lp.locator('#sec-signout-all').isVisible(), '"Sign out everywhere" should show');
    assertEq((await lp.locator('#me-signin-link').innerText()).trim(), 'Email me a sign-in link', 'sign-in button');
    const headings = await lp.evaluate(() => [...document.querySelectorAll('#state-app section > h2')]
      .filter((h) => h.offsetWidth || h.offsetHeight).map((h) => h.textContent.trim()));
    assertEq(headings, ['Your consents', 'See and manage all your data', 'Sign out everywhere'], 'section headings');
    const langs = [...new Set(sent.map(([, l]) => l))];
    assertEq(langs, ['en'], 'Accept-Language of the API calls');
    t.log(await screenshot(lp, 'preferences-limited'));
  });

  await t.check('preferences mode: turning consents off and on is saved, with the shown words as proof', async () => {
    const box = lp.locator('#me-consent-marketing_email');
    let [r] = await Promise.all([lp.waitForResponse(apiResponse('PUT', '/v1/me/consents/marketing_email')), box.uncheck()]);
    assertEq(r.status(), 200, 'PUT (off) status');
    await lpStatus(/Marketing emails: off/, 'that marketing emails are off');
    await poll(async () => consentOf(await contact(email2), 'marketing_email')?.granted === false,
      { timeoutMs: 5_000, what: 'marketing_email withdrawn in the admin API' });
    [r] = await Promise.all([lp.waitForResponse(apiResponse('PUT', '/v1/me/consents/marketing_email')), box.check()]);
    assertEq(r.status(), 200, `PUT (on) status (${await r.text()})`);
    assertEq(r.request().headers()['accept-language'], 'en', 'Accept-Language of the grant');
    await lpStatus(/Marketing emails: on/, 'that marketing emails are on');
    const c = await poll(async () => {
      const x = await contact(email2);
      return consentOf(x, 'marketing_email')?.granted === true && x;
    }, { timeoutMs: 5_000, what: 'marketing_email granted again in the admin API' });
    const grant = (c.consent_history || []).filter((e) => e.purpose === 'marketing_email' && e.action === 'granted').pop();
    assertEq(grant?.method, 'self_service', 'method of the grant');
    const shown = (await lp.locator('#me-consent-marketing_email-desc').innerText()).trim();
    assertEq(grant?.notice_text_hash, noticeHash(shown), 'the grant records the hash of the words shown');

    const surveys = lp.locator('#me-consent-satisfaction_surveys');
    [r] = await Promise.all([lp.waitForResponse(apiResponse('PUT', '/v1/me/consents/satisfaction_surveys')), surveys.uncheck()]);
    assertEq(r.status(), 200, 'PUT satisfaction_surveys status');
    await lpStatus(/Survey emails after a purchase: off/, 'that survey emails are off');
    await poll(async () => consentOf(await contact(email2), 'satisfaction_surveys')?.granted === false,
      { timeoutMs: 5_000, what: 'satisfaction_surveys withdrawn (objected to) in the admin API' });
    assert(!(await surveys.isChecked()), 'the switch stays off');
  });

  await t.check('preferences mode: what needs a sign-in (a 403 needs_sign_in) leads to the sign-in offer', async () => {
    // Nothing on the page asks for it; force the download button into view to hear the server's answer.
    await lp.evaluate(() => { document.getElementById('sec-download').hidden = false; });
    const [r] = await Promise.all([lp.waitForResponse(apiResponse('GET', '/v1/me/export')), lp.locator('#me-download').click()]);
    assertEq(r.status(), 403, 'GET /v1/me/export status');
    assertEq((await r.json())?.error?.code, 'needs_sign_in', 'error code');
    await lpStatus(/sign in with a link we email you/, 'how to get in');
    assert(await lp.locator('#sec-download').isHidden(), 'the download section is hidden again');
    assertEq(await lp.evaluate(() => document.activeElement.id), 'h-signin', 'focus moves to the sign-in offer');
  });

  let signInUrl = '';
  await t.check('preferences mode: "Email me a sign-in link" confirms and the link reaches the mailbox', async () => {
    const before = (await mailbox(email2)).filter((m) => m.kind === 'magic_link');
    const [r] = await Promise.all([lp.waitForResponse(apiResponse('POST', '/v1/me/sign-in-link')), lp.locator('#me-signin-link').click()]);
    assertEq(r.status(), 202, 'POST /v1/me/sign-in-link status');
    const expected = `We sent a sign-in link to ${masked2}. It is valid for 30 minutes.`;
    await lp.locator('#me-signin-result').waitFor({ state: 'visible' });
    assertEq((await lp.locator('#me-signin-result').innerText()).trim(), expected, 'the confirmation on the page');
    await lpStatus(/We sent a sign-in link/, 'that a sign-in link was sent');
    const message = await pollMail(email2, 'magic_link', { seen: before, where: (m) => !!m.url });
    signInUrl = message.url;
    assert(signInUrl.startsWith(`${base}/me?t=`), `sign-in link should start with ${base}/me?t=, got ${signInUrl}`);
  });

  const stale = await limited.context.newPage(); // a second tab that stays in preferences mode
  t.defer(() => stale.close());
  await t.check('the sign-in link from the mailbox opens the full preference center', async () => {
    await stale.goto(preferencesUrls[email2]);
    await stale.locator('#me-consent-marketing_email').waitFor({ state: 'visible' });
    const [, session] = await Promise.all([lp.goto(signInUrl), lp.waitForResponse(apiResponse('POST', '/v1/me/session'))]);
    assertEq(session.status(), 200, 'POST /v1/me/session status');
    assertEq((await session.json())?.scope, 'full', 'session scope');
    await lp.locator('#sec-details').waitFor({ state: 'visible' });
    assertEq(await lp.locator('#me-email').inputValue(), email2, 'the whole address shows now');
    assertEq(await lp.locator('#me-name').inputValue(), 'Bea', 'name');
    for (const id of ['sec-hold', 'sec-download', 'sec-delete', 'sec-signout-all']) assert(await lp.locator(`#${id}`).isVisible(), `#${id} should show`);
    assert(await lp.locator('#sec-signin').isHidden(), 'no sign-in offer once signed in');
    assert(await lp.locator('#me-consent-marketing_email').isChecked(), 'marketing_email is on');
    assert(!(await lp.locator('#me-consent-satisfaction_surveys').isChecked()), 'satisfaction_surveys is off');
  });

  await t.check('"Sign out everywhere" ends every session and shows the signed-out state', async () => {
    const [r] = await Promise.all([lp.waitForResponse(apiResponse('POST', '/v1/me/sign-out-everywhere')), lp.locator('#me-signout-all').click()]);
    assertEq(r.status(), 200, 'POST /v1/me/sign-out-everywhere status');
    assertEq(await r.json(), { status: 'signed_out' }, 'answer');
    await lp.locator('#state-link').waitFor({ state: 'visible' });
    assertEq((await lp.locator('#link-title').innerText()).trim(), 'You are signed out everywhere', 'heading');
    assert(await lp.locator('#state-app').isHidden(), 'no data may show');
    assertEq(await lp.evaluate(() => document.activeElement.id), 'link-title', 'focus moves to the heading');
    assertEq(await lp.evaluate(() => sessionStorage.length), 0, 'sessionStorage entries');
    // The other tab's preferences session ended too: its next call is refused.
    await stale.reload();
    await stale.locator('#state-link').waitFor({ state: 'visible' });
    assertEq((await stale.locator('#link-title').innerText()).trim(), 'Your session has ended', 'the other tab');
    assertEq(await stale.locator('#me-link-email').inputValue(), '', 'a masked address is never put in the form');
  });

  await t.check('after signing out everywhere, the emailed preferences link shows the expired-link state', async () => {
    const other = await limited.context.newPage();
    try {
      const [, r] = await Promise.all([other.goto(preferencesUrls[email2]), other.waitForResponse(apiResponse('POST', '/v1/me/session'))]);
      assertEq(r.status(), 410, 'POST /v1/me/session status');
      await other.locator('#me-link-email').waitFor({ state: 'visible' });
      assertEq((await other.locator('#link-title').innerText()).trim(), 'This link has expired or was already used', 'heading');
      assert((await other.locator('#link-reason').innerText()).includes('sign out everywhere'), `reason: ${await other.locator('#link-reason').innerText()}`);
      assert(await other.locator('#state-app').isHidden(), 'no data may show');
    } finally {
      await other.close();
    }
  });

  await t.check('preferences mode: the pages had no script errors', async () => {
    // Chrome logs every non-2xx fetch: the 403 (needs a sign-in), 401 (ended session) and 410 (revoked link) are expected.
    const real = limited.problems.filter((p) => !/Failed to load resource: the server responded with a status of (401|403|410)/.test(p));
    assertEq(real, [], 'browser problems');
  });

  await t.check('the page had no script errors', async () => {
    // Chrome logs every non-2xx fetch; the 400 (bad phone) and 410 (used link) above are expected.
    const real = problems.filter((p) => !/Failed to load resource: the server responded with a status of (400|410)/.test(p));
    assertEq(real, [], 'browser problems');
  });
});
