// End-to-end signup in headless Chromium: a shop page on its own origin embeds the widget from
// the Worker, a visitor signs up (with an error first), confirms from the emailed link, and the
// admin API sees the contact go from pending to active.
//
//   BASE_URL=http://127.0.0.1:8787 ADMIN_KEY=… MAILBOX_URL=http://127.0.0.1:…/mailbox node tests/browser/signup.mjs
//
// Prints one line per check; exits 0 when all pass. Screenshot: target/browser/signup.png.

import {
  adminApi, assert, assertEq, launchBrowser, newPage, poll, pollMail, requireEnv, run, screenshot, serve, shopPage,
} from './lib.mjs';

run('signup', async (t) => {
  const env = requireEnv('BASE_URL', 'ADMIN_KEY', 'MAILBOX_URL');
  const base = env.BASE_URL.replace(/\/+$/, '');
  const admin = adminApi(base, env.ADMIN_KEY);
  const email = `browser-${Date.now()}-${Math.random().toString(36).slice(2, 8)}@example.com`;

  // The shop listens first (port 0 = a free port), so its origin can go into the form's allowlist.
  let formId = '';
  const shop = await serve({
    '/': () => ({
      body: shopPage({
        body: `<h1>Novidades da loja</h1>
<p>Receba ofertas e lançamentos antes de todo mundo.</p>
<script src="${base}/embed.js" data-form="${formId}" async></script>
<p>Rodapé da loja.</p>`,
      }),
    }),
    '/thanks': { body: shopPage({ body: '<h1>Obrigado!</h1>' }) },
    '/favicon.ico': { status: 204, type: 'image/x-icon', body: '' },
  });
  t.defer(() => shop.close());
  t.log(`worker ${base}, shop ${shop.origin}, email ${email}`);

  await t.check('admin API creates a form that allows the shop origin', async () => {
    const form = await admin.expect(201, 'POST', '/admin/v1/forms', {
      name: 'Browser test',
      allowed_origins: [shop.origin],
      locale: 'pt-BR',
      double_opt_in: true,
      redirect_url: `${shop.origin}/thanks`,
      fields: [
        { key: 'email', type: 'email', required: true, label: { en: 'Email', 'pt-BR': 'E-mail' } },
        { key: 'name', type: 'text', max_len: 100, label: { en: 'Name', 'pt-BR': 'Nome' } },
        { key: 'interests', type: 'multi_choice', options: ['shoes', 'bags'], label: { en: 'Interests', 'pt-BR': 'Interesses' } },
      ],
      consents: [{
        purpose: 'marketing_email', required: true, policy_version: '2026-01',
        text: { en: 'I agree to receive offers by email', 'pt-BR': 'Aceito receber ofertas por e-mail' },
      }],
    });
    assert(/^frm_/.test(form?.id || ''), `expected an id like frm_…, got ${JSON.stringify(form)}`);
    formId = form.id;
  });

  const browser = await launchBrowser();
  t.defer(() => browser.close());
  // An English-speaking browser: the form's own locale (pt-BR) must win.
  const { page, problems } = await newPage(browser, { locale: 'en-US' });
  t.onFailure(async () => {
    if (problems.length) console.error(`# browser problems:\n#   ${problems.join('\n#   ')}`);
    console.error(`# screenshot: ${await screenshot(page, 'signup-failure')}`);
  });
  let navigations = 0;
  page.on('framenavigated', (f) => { if (f === page.mainFrame()) navigations += 1; });
  const posts = [];
  page.on('request', (r) => { if (r.method() === 'POST' && r.url().endsWith('/submissions')) posts.push(r.url()); });
  const byId = (suffix) => page.locator(`[id="clientela-${formId}-${suffix}"]`);
  const form = page.locator(`form.clientela-form[data-form-id="${formId}"]`);
  const status = page.locator('.clientela-status');
  const errorFor = async (input) => page.locator(`[id="${await input.getAttribute('id')}-error"]`);
  let shopUrl = '';

  await t.check('the shop page (another origin) renders the embedded form', async () => {
    await page.goto(shop.url('/'));
    await form.waitFor({ state: 'visible' });
    shopUrl = page.url();
    navigations = 0;
    assertEq(await form.getAttribute('method'), 'post', 'form method');
    assertEq(await form.getAttribute('action'), `${base}/v1/forms/${formId}/submissions`, 'form action');
  });

  await t.check('the form speaks Portuguese (form locale pt-BR over an en-US browser)', async () => {
    assertEq(await form.getAttribute('lang'), 'pt-BR', 'form lang');
    const label = (await page.locator(`label[for="clientela-${formId}-email"]`).innerText()).trim();
    assert(label.startsWith('E-mail'), `email label should be "E-mail", got "${label}"`);
    const consent = await page.locator(`label[for="clientela-${formId}-consent-marketing_email"]`).innerText();
    assert(consent.includes('Aceito receber ofertas por e-mail'), `consent label should carry the policy text, got "${consent}"`);
    const button = (await form.locator('button[type=submit]').innerText()).trim();
    assertEq(button, 'Inscrever-me', 'submit button');
  });

  await t.check('inputs are labelled, required ones marked, the consent box unchecked', async () => {
    const unlabelled = await form.evaluate((f) => [...f.querySelectorAll('input,select,textarea')]
      .filter((i) => !i.closest('[aria-hidden="true"]') && i.labels.length === 0).map((i) => i.name));
    assertEq(unlabelled, [], 'inputs without a <label>');
    const emailInput = byId('email');
    assert(await emailInput.evaluate((i) => i.required && i.getAttribute('aria-required') === 'true'), 'email is not marked required');
    assertEq(await emailInput.getAttribute('type'), 'email', 'email input type');
    const consent = byId('consent-marketing_email');
    assert(!(await consent.isChecked()), 'the consent box must start unchecked');
    assert(await consent.evaluate((i) => i.required), 'the required consent is not marked required');
    assertEq(await form.locator('fieldset legend').first().innerText().then((s) => s.trim()), 'Interesses', 'choice group legend');
  });

  await t.check('the honeypot is in the form but hidden from people, keyboards and assistive tech', async () => {
    const hp = await form.evaluate((f) => {
      const i = f.querySelector('[aria-hidden="true"] input');
      if (!i) return null;
      const r = i.getBoundingClientRect();
      return { name: i.name, tabIndex: i.tabIndex, autocomplete: i.getAttribute('autocomplete'), right: r.right, display: getComputedStyle(i).display };
    });
    assert(hp, 'no input inside an aria-hidden container');
    assert(hp.name && hp.tabIndex === -1 && hp.autocomplete === 'off', `honeypot attributes: ${JSON.stringify(hp)}`);
    assert(hp.right <= 0 && hp.display !== 'none', `honeypot should be off-screen, not display:none: ${JSON.stringify(hp)}`);
  });

  await t.check('keyboard only: Tab walks the fields in order and skips the honeypot', async () => {
    await page.locator('body').focus();
    const order = [];
    for (let i = 0; i < 8; i += 1) {
      await page.keyboard.press('Tab');
      const id = await page.evaluate(() => document.activeElement.id || document.activeElement.tagName);
      order.push(id.replace(`clientela-${formId}-`, ''));
      if (id === 'BUTTON') break;
    }
    assertEq(order, ['email', 'name', 'interests-0', 'interests-1', 'consent-marketing_email', 'BUTTON'], 'tab order');
  });

  await t.check('an empty submit shows inline errors, sends nothing and stays on the page', async () => {
    await form.locator('button[type=submit]').click();
    const emailError = await errorFor(byId('email'));
    const consentError = await errorFor(byId('consent-marketing_email'));
    await emailError.waitFor({ state: 'visible' });
    await consentError.waitFor({ state: 'visible' });
    assertEq(await byId('email').getAttribute('aria-invalid'), 'true', 'email aria-invalid');
    assertEq(await page.evaluate(() => document.activeElement.id), `clientela-${formId}-email`, 'focus after errors');
    assertEq(posts.length, 0, 'submissions sent while the form was incomplete');
    assertEq(navigations, 0, 'navigations');
  });

  await t.check("the server's 400 for a missing consent shows next to the consent box", async () => {
    await byId('email').fill(email);
    // Drop the browser-side check so the server is the one saying no: it is authoritative.
    await byId('consent-marketing_email').evaluate((i) => i.removeAttribute('required'));
    const [response] = await Promise.all([
      page.waitForResponse((r) => r.url().endsWith('/submissions') && r.request().method() === 'POST'),
      form.locator('button[type=submit]').click(),
    ]);
    assertEq(response.status(), 400, 'submission status');
    const body = await response.json();
    assert(body?.error?.fields?.['consent.marketing_email'], `400 should name consent.marketing_email: ${JSON.stringify(body)}`);
    const consent = byId('consent-marketing_email');
    const consentError = await errorFor(consent);
    await consentError.waitFor({ state: 'visible' });
    assert((await consentError.innerText()).trim().length > 0, 'the consent error is empty');
    assertEq(await consent.getAttribute('aria-invalid'), 'true', 'consent aria-invalid');
    assert((await consent.getAttribute('aria-describedby') || '').includes(await consentError.getAttribute('id')),
      'the consent box is not described by its error');
    assertEq(await page.evaluate(() => document.activeElement.id), `clientela-${formId}-consent-marketing_email`, 'focus after errors');
    assert(await byId('email').getAttribute('aria-invalid') === null, 'email is still marked invalid');
    assert(await form.isVisible(), 'the form should stay usable');
    assertEq(navigations, 0, 'navigations');
    assertEq(page.url(), shopUrl, 'page URL');
  });

  await t.check('a complete signup shows "check your inbox" in place, without leaving the shop', async () => {
    await byId('name').fill('Ana Teste');
    await page.getByRole('checkbox', { name: 'shoes' }).check();
    await byId('consent-marketing_email').check();
    const [response] = await Promise.all([
      page.waitForResponse((r) => r.url().endsWith('/submissions') && r.request().method() === 'POST'),
      form.locator('button[type=submit]').click(),
    ]);
    assertEq(response.status(), 202, 'submission status');
    const sent = JSON.parse(response.request().postData() || '{}');
    assertEq(sent.fields?.email, email, 'posted email');
    assertEq(sent.fields?.interests, ['shoes'], 'posted interests');
    assertEq(sent.consents, { marketing_email: true }, 'posted consents');
    await page.waitForFunction(() => /caixa de entrada/i.test(document.querySelector('.clientela-status')?.textContent || ''));
    assertEq(await status.getAttribute('role'), 'status', 'status role');
    assert(!(await form.isVisible()), 'the form should be hidden after success');
    assertEq(navigations, 0, 'navigations');
    assertEq(page.url(), shopUrl, 'page URL');
  });

  await t.check('screenshot of the shop after signup: target/browser/signup.png', async () => {
    t.log(await screenshot(page, 'signup'));
  });

  let confirmUrl = '';
  await t.check('the confirmation email is queued and reaches the mailbox', async () => {
    await poll(async () => {
      const r = await admin.expect(200, 'GET', `/admin/v1/outbox?to=${encodeURIComponent(email)}`);
      return (r?.messages || []).some((m) => m.kind === 'confirm');
    }, { timeoutMs: 10_000, what: `a confirm message to ${email} in the outbox` });
    // Once delivered, the outbox keeps no link: read it from the mailbox, as the visitor would.
    const message = await pollMail(email, 'confirm', { where: (m) => !!m.url });
    confirmUrl = message.url;
    assert(confirmUrl.startsWith(`${base}/confirm?t=`), `confirm url should start with ${base}/confirm?t=, got ${confirmUrl}`);
  });

  const contactStatus = async () => {
    const r = await admin.expect(200, 'GET', `/admin/v1/contacts?email=${encodeURIComponent(email)}`);
    const contacts = r?.contacts || [];
    assertEq(contacts.length, 1, `contacts for ${email}`);
    assertEq(contacts[0].email, email, 'contact email');
    return contacts[0].status;
  };

  await t.check('the contact is pending until confirmed', async () => {
    assertEq(await contactStatus(), 'pending', 'status');
  });

  const confirmPage = await browser.newPage();
  t.defer(() => confirmPage.close());
  await t.check('opening the link shows a confirm button and changes nothing (GET never confirms)', async () => {
    const response = await confirmPage.goto(confirmUrl);
    assertEq(response.status(), 200, 'confirm page status');
    await confirmPage.locator('#confirm').waitFor({ state: 'visible' });
    assertEq(await contactStatus(), 'pending', 'status after GET');
  });

  await t.check('pressing the button confirms the subscription', async () => {
    await confirmPage.locator('#confirm').click();
    await confirmPage.waitForFunction(() => (document.querySelector('#result')?.textContent || '').trim().length > 0);
    t.log(`confirm page says: ${(await confirmPage.locator('#result').innerText()).trim()}`);
    await poll(async () => (await contactStatus()) === 'active', { timeoutMs: 5_000, what: 'status "active"' });
  });

  await t.check('the shop page had no script errors', async () => {
    // Chrome logs every non-2xx fetch ("Failed to load resource"); the 400 above is expected.
    const real = problems.filter((p) => !/Failed to load resource: the server responded with a status of 400/.test(p));
    assertEq(real, [], 'browser problems');
  });
});
