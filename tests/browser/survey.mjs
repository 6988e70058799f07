// End-to-end survey in headless Chromium on a phone: the admin API creates a survey and invites a
// buyer, who opens the invitation link in a Portuguese browser, is told what is missing, answers
// by tapping (and once by keyboard), sends, and sees a thank-you; the admin API then shows the
// response in the results and in the contact's stats, and the link no longer opens the survey.
// A second buyer answers the same survey inside a shop's iframe (?embed=1), and the shop page
// hears about it through postMessage.
//
//   BASE_URL=http://127.0.0.1:8787 ADMIN_KEY=… node tests/browser/survey.mjs
//
// Prints one line per check; exits 0 when all pass. Screenshots: target/browser/survey-phone.png
// (390×844, answered), survey-360.png (360×740), survey-thanks.png and survey-embed.png.
//
// While working on the page, SURVEY_PAGE_FILE=src/pages/survey.html serves that file for
// GET /s/{token} (filled with the language and data the Worker put into its own copy) instead of
// the copy compiled into the Worker.

import fs from 'node:fs';
import path from 'node:path';
import {
  REPO, adminApi, assert, assertEq, launchBrowser, newPage, poll, requireEnv, run, screenshot, serve, shopPage,
} from './lib.mjs';

run('survey', async (t) => {
  const env = requireEnv('BASE_URL', 'ADMIN_KEY');
  const base = env.BASE_URL.replace(/\/+$/, '');
  const admin = adminApi(base, env.ADMIN_KEY);
  const tag = `${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
  const email = `survey-${tag}@example.com`;
  const embedEmail = `survey-embed-${tag}@example.com`;
  const comment = 'Entrega rápida e atendimento ótimo!';
  t.log(`worker ${base}, emails ${email}, ${embedEmail}`);

  let surveyId = '';
  await t.check('admin API creates a survey with every question type', async () => {
    const survey = await admin.expect(201, 'POST', '/admin/v1/surveys', {
      name: `Depois da compra ${tag}`,
      locale: 'pt-BR',
      expires_after_days: 30,
      questions: [
        {
          key: 'nps', type: 'nps', required: true,
          text: { en: 'How likely are you to recommend us?', 'pt-BR': 'Qual a chance de você nos recomendar?' },
        },
        { key: 'csat', type: 'csat', text: { en: 'How satisfied are you?', 'pt-BR': 'Qual o seu grau de satisfação?' } },
        { key: 'ces', type: 'ces', text: { en: 'How easy was it?', 'pt-BR': 'Foi fácil comprar?' } },
        {
          key: 'channel', type: 'single_choice', text: { en: 'Where did you buy?', 'pt-BR': 'Onde você comprou?' },
          options: [
            { value: 'web', label: { en: 'Website', 'pt-BR': 'Site' } },
            { value: 'store', label: { en: 'Store', 'pt-BR': 'Loja física' } },
          ],
        },
        {
          key: 'liked', type: 'multi_choice', text: { en: 'What did you like?', 'pt-BR': 'Do que você gostou?' },
          options: [
            { value: 'price', label: { en: 'Price', 'pt-BR': 'Preço' } },
            { value: 'speed', label: { en: 'Speed', 'pt-BR': 'Rapidez' } },
          ],
        },
        { key: 'why', type: 'text', max_len: 1000, text: { en: 'Anything else?', 'pt-BR': 'Algo mais?' } },
      ],
    });
    assert(/^srv_/.test(survey?.id || ''), `expected an id like srv_…, got ${JSON.stringify(survey)}`);
    surveyId = survey.id;
  });

  let url = '', embedUrl = '';
  await t.check('admin API invites two buyers without sending email', async () => {
    const r = await admin.expect(201, 'POST', `/admin/v1/surveys/${surveyId}/invitations`, {
      invitations: [{ email }, { email: embedEmail }], send_email: false,
    });
    const list = r?.invitations || [];
    assertEq(list.length, 2, 'invitations returned');
    for (const inv of list) {
      assert(/^inv_/.test(inv.id || ''), `expected an id like inv_…, got ${JSON.stringify(inv)}`);
      assert((inv.url || '').startsWith(`${base}/s/`), `invitation url should start with ${base}/s/, got ${inv.url}`);
      assert(!Number.isNaN(Date.parse(inv.expires_at)), `expires_at should be a time, got ${inv.expires_at}`);
    }
    [url, embedUrl] = [list[0].url, list[1].url];
  });
  const token = decodeURIComponent(new URL(url).pathname.split('/').pop());

  const browser = await launchBrowser();
  t.defer(() => browser.close());
  const phone = {
    viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true,
    locale: 'pt-BR', extraHTTPHeaders: { 'Accept-Language': 'pt-BR,pt;q=0.9' },
  };
  const { context, page, problems } = await newPage(browser, phone);
  t.onFailure(async () => {
    if (problems.length) console.error(`# browser problems:\n#   ${problems.join('\n#   ')}`);
    console.error(`# screenshot: ${await screenshot(page, 'survey-failure')}`);
  });

  if (process.env.SURVEY_PAGE_FILE) {
    const file = path.resolve(REPO, process.env.SURVEY_PAGE_FILE);
    t.log(`serving GET /s/{token} from ${file} instead of the Worker's copy`);
    await context.route((u) => u.href.startsWith(`${base}/s/`), async (route) => {
      const original = await route.fetch();
      const html = await original.text();
      const data = /<script type="application\/json" id="survey-data">([\s\S]*?)<\/script>/.exec(html);
      const lang = /<html lang="([^"]*)"/.exec(html);
      if (original.status() !== 200 || !data || !lang) { await route.fulfill({ response: original }); return; }
      await route.fulfill({
        response: original,
        body: fs.readFileSync(file, 'utf8').replace('{{lang}}', lang[1]).replace('{{data}}', data[1]),
      });
    });
  }

  const requests = [];
  context.on('request', (r) => {
    if (r.url().startsWith(`${base}/v1/`)) requests.push(`${r.method()} ${new URL(r.url()).pathname}`);
  });
  const isPost = (r) => r.request().method() === 'POST' && new URL(r.url()).pathname === '/v1/surveys/responses';
  // A scale answer is a label drawn as a button around a real (transparent) radio input.
  const pick = (p, key, value) => p.locator(`#q-${key} label:has(input[value="${value}"])`);
  const noSideScroll = async (p) => {
    const [scroll, client] = await p.evaluate(() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]);
    assert(scroll <= client, `page is ${scroll} px wide in a ${client} px viewport`);
  };

  await t.check('the invitation link opens the survey in Portuguese, with the strict CSP', async () => {
    const response = await page.goto(url);
    assertEq(response.status(), 200, 'GET /s/{token} status');
    const csp = response.headers()['content-security-policy'] || '';
    assert(csp.includes("default-src 'none'") && csp.includes('frame-ancestors *'), `CSP: ${csp}`);
    await page.locator('#survey-form').waitFor({ state: 'visible' });
    assertEq(await page.getAttribute('html', 'lang'), 'pt-BR', 'html lang');
    assertEq(await page.locator('html[lang="pt-BR"]').count(), 1, 'html[lang=pt-BR]');
    assertEq((await page.locator('h1:visible').innerText()).trim(), `Depois da compra ${tag}`, 'heading');
    assertEq(await page.title(), `Depois da compra ${tag}`, 'document title');
    assert((await page.locator('#q-nps legend').innerText()).includes('Qual a chance de você nos recomendar?'), 'NPS question text');
    assert((await page.locator('#q-nps .ends').innerText()).includes('Nada provável'), 'NPS low end label');
    assert((await page.locator('#q-nps .ends').innerText()).includes('Extremamente provável'), 'NPS high end label');
    assert((await page.locator('#q-csat .ends').innerText()).includes('Muito satisfeito'), 'CSAT high end label');
    assert((await page.locator('#q-ces .ends').innerText()).includes('Muito fácil'), 'CES high end label');
    assertEq((await page.locator('#q-channel label').allInnerTexts()).map((s) => s.trim()), ['Site', 'Loja física'], 'channel options');
    assertEq((await page.locator('#survey-submit').innerText()).trim(), 'Enviar respostas', 'submit button');
    assert(!(await page.content()).includes('{{'), 'no template placeholder may remain');
  });

  await t.check('the questions are radio groups, checkboxes and a limited textarea, all labelled', async () => {
    const report = await page.evaluate(() => {
      const q = (key) => document.getElementById(`q-${key}`);
      const inputs = [...document.querySelectorAll('#survey-form input, #survey-form textarea')];
      return {
        unlabelled: inputs.filter((i) => i.labels.length === 0).map((i) => i.id || i.name),
        legends: [...document.querySelectorAll('#survey-form fieldset')].map((f) => f.querySelector('legend')?.textContent.trim() || ''),
        nps: [...q('nps').querySelectorAll('input')].map((i) => `${i.type}:${i.value}`),
        csat: [...q('csat').querySelectorAll('input[type=radio]')].map((i) => i.value),
        ces: [...q('ces').querySelectorAll('input[type=radio]')].map((i) => i.value),
        groups: ['nps', 'csat', 'ces', 'channel'].map((k) => q(k).querySelector('fieldset').getAttribute('role')),
        liked: [...q('liked').querySelectorAll('input')].map((i) => i.type),
        maxlength: q('why').querySelector('textarea')?.maxLength,
        requiredMark: q('nps').querySelector('legend').textContent.includes('obrigatória'),
        optionalMark: q('csat').querySelector('legend').textContent.includes('obrigatória'),
        live: document.getElementById('survey-alert').getAttribute('role'),
        status: document.getElementById('survey-status').getAttribute('aria-live'),
      };
    });
    assertEq(report.unlabelled, [], 'inputs without a <label>');
    assert(report.legends.length === 5 && report.legends.every(Boolean), `every fieldset needs a legend: ${JSON.stringify(report.legends)}`);
    assertEq(report.nps, [...Array(11).keys()].map((n) => `radio:${n}`), 'NPS radios');
    assertEq(report.csat, ['1', '2', '3', '4', '5'], 'CSAT radios');
    assertEq(report.ces, ['1', '2', '3', '4', '5', '6', '7'], 'CES radios');
    assertEq(report.groups, ['radiogroup', 'radiogroup', 'radiogroup', 'radiogroup'], 'radio group roles');
    assertEq(report.liked, ['checkbox', 'checkbox'], 'multiple choice inputs');
    assertEq(report.maxlength, 1000, 'textarea maxlength');
    assert(report.requiredMark && !report.optionalMark, 'only the required question says it is required');
    assertEq([report.live, report.status], ['alert', 'polite'], 'live regions');
  });

  await t.check('on the phone nothing scrolls sideways and the answers are large tap targets', async () => {
    await noSideScroll(page);
    for (const width of [390, 360]) {
      await page.setViewportSize({ width, height: width === 360 ? 740 : 844 });
      await noSideScroll(page);
      const boxes = await page.evaluate(() => [...document.querySelectorAll('.scale span')].map((s) => {
        const r = s.getBoundingClientRect();
        return { q: s.closest('.q').id, w: Math.round(r.width), h: Math.round(r.height), right: r.right };
      }));
      const small = boxes.filter((b) => b.h < 44 || b.w < (b.q === 'q-ces' ? 36 : 44));
      assertEq(small, [], `scale buttons too small at ${width} px`);
      assert(boxes.every((b) => b.right <= width), `a scale button sticks out at ${width} px`);
      const rows = await page.evaluate(() => new Set([...document.querySelectorAll('#q-nps .scale span')].map((s) => Math.round(s.getBoundingClientRect().top))).size);
      assertEq(rows, 2, `NPS rows at ${width} px`);
    }
    t.log(await screenshot(page, 'survey-360'));
    await page.setViewportSize(phone.viewport);
  });

  await t.check('sending with the required NPS unanswered says so, sends nothing and focuses it', async () => {
    await page.locator('#survey-submit').tap();
    const error = page.locator('#q-nps-error');
    await error.waitFor({ state: 'visible' });
    assertEq((await error.innerText()).trim().replace(/^!\s*/, ''), 'Escolha uma resposta.', 'NPS error');
    await page.waitForFunction(() => /precisam da sua atenção/.test(document.getElementById('survey-alert').textContent));
    assertEq(await page.locator('#q-nps fieldset').getAttribute('aria-invalid'), 'true', 'aria-invalid on the NPS group');
    assert((await page.locator('#q-nps fieldset').getAttribute('aria-describedby') || '').split(' ').includes('q-nps-error'), 'the NPS group is not described by its error');
    assertEq(await page.evaluate(() => document.activeElement.id), 'q-nps-0', 'focus after the error');
    assert(!requests.includes('POST /v1/surveys/responses'), 'nothing may be sent while a required answer is missing');
  });

  await t.check('keyboard: arrow keys move through the NPS scale, with a visible focus', async () => {
    await page.keyboard.press('ArrowRight');
    await page.keyboard.press('ArrowRight');
    await page.keyboard.press('ArrowRight');
    const state = await page.evaluate(() => {
      const a = document.activeElement;
      return { id: a.id, checked: document.querySelector('#q-nps input:checked')?.value, outline: getComputedStyle(a.nextElementSibling).outlineStyle };
    });
    assertEq([state.id, state.checked], ['q-nps-3', '3'], 'focused and checked NPS value');
    assert(state.outline !== 'none', 'the focused scale button should show a focus outline');
    await page.keyboard.press('ArrowLeft');
    assertEq(await page.evaluate(() => document.querySelector('#q-nps input:checked')?.value), '2', 'NPS after ArrowLeft');
    assert(await page.locator('#q-nps-error').isHidden(), 'answering clears the error');
    await page.keyboard.press('Tab');
    assertEq(await page.evaluate(() => document.activeElement.name), 'q-csat', 'Tab leaves the NPS group for CSAT');
  });

  await t.check('one tap per answer: NPS 9, CSAT 5, a channel, a liked thing and a comment', async () => {
    await pick(page, 'nps', 9).tap();
    await pick(page, 'csat', 5).tap();
    await page.locator('#q-channel label', { hasText: 'Site' }).tap();
    await page.locator('#q-liked label', { hasText: 'Preço' }).tap();
    await page.locator('#q-why textarea').fill(comment);
    const checked = await page.evaluate(() => [...document.querySelectorAll('#survey-form input:checked')].map((i) => `${i.name}=${i.value}`));
    assertEq(checked, ['q-nps=9', 'q-csat=5', 'q-channel=web', 'q-liked=price'], 'checked inputs');
    await noSideScroll(page);
    t.log(await screenshot(page, 'survey-phone'));
  });

  await t.check('sending disables the button, posts the answers and shows a thank-you', async () => {
    // Hold the answer back a moment, to see the page while it is being sent.
    let release;
    const held = new Promise((r) => { release = r; });
    await context.route(`${base}/v1/surveys/responses`, async (route) => { await held; await route.continue(); });
    const [request] = await Promise.all([
      page.waitForRequest((r) => r.method() === 'POST' && r.url() === `${base}/v1/surveys/responses`),
      page.locator('#survey-submit').tap(),
    ]);
    assert(await page.locator('#survey-submit').isDisabled(), 'the button should be disabled while sending');
    assertEq((await page.locator('#survey-submit').innerText()).trim(), 'Enviando…', 'button text while sending');
    assertEq(JSON.parse(request.postData() || '{}'), {
      token, answers: { nps: 9, csat: 5, channel: 'web', liked: ['price'], why: comment },
    }, 'POST body (unanswered CES left out)');
    const [response] = await Promise.all([page.waitForResponse(isPost), release()]);
    await context.unroute(`${base}/v1/surveys/responses`);
    assertEq(response.status(), 201, `POST status (${await response.text()})`);
    assertEq(await response.json(), { status: 'recorded' }, 'POST body');
    await page.locator('#survey-thanks').waitFor({ state: 'visible' });
    assertEq((await page.locator('#thanks-title').innerText()).trim(), 'Muito obrigado!', 'thank-you heading');
    assert((await page.locator('#thanks-text').innerText()).includes('Suas respostas foram registradas'), 'thank-you text');
    assert(await page.locator('#survey-form').isHidden(), 'the form should be gone');
    assertEq(await page.evaluate(() => document.activeElement.id), 'thanks-title', 'focus moves to the thank-you');
    t.log(await screenshot(page, 'survey-thanks'));
  });

  await t.check('the admin API counts one response and one promoter', async () => {
    const r = await admin.expect(200, 'GET', `/admin/v1/surveys/${surveyId}/results`);
    assertEq(r?.responses, 1, `results.responses (${JSON.stringify(r)})`);
    assertEq(r?.nps?.promoters, 1, 'results.nps.promoters');
    assertEq(r?.invited, 2, 'results.invited');
  });

  await t.check("the buyer's contact shows last_nps 9, a promoter", async () => {
    await poll(async () => {
      const r = await admin.expect(200, 'GET', `/admin/v1/contacts?email=${encodeURIComponent(email)}`);
      const stats = r?.contacts?.[0]?.stats;
      return stats?.last_nps === 9 && stats?.nps_category === 'promoter';
    }, { timeoutMs: 10_000, what: `stats.last_nps 9 and nps_category "promoter" for ${email}` });
  });

  await t.check('reloading the used link answers 409 with an "already answered" page, no form', async () => {
    const response = await page.reload();
    assertEq(response.status(), 409, 'GET /s/{token} status after answering');
    assertEq(await page.locator('#survey-form').count(), 0, 'survey forms on the page');
    assertEq(await page.getAttribute('html', 'lang'), 'pt-BR', 'html lang of the message page');
  });

  await t.check('embedded in a shop page (?embed=1), the survey is compact and tells the shop when answered', async () => {
    const shop = await serve({
      '/': {
        body: shopPage({
          title: 'Loja Exemplo',
          body: `<h1>Pedido confirmado</h1>
<iframe id="survey" src="${embedUrl}?embed=1" title="Pesquisa" style="width:100%;height:900px;border:0"></iframe>
<script>
window.addEventListener('message', (e) => {
  if (e.data && e.data.type === 'clientela:survey-answered') { window.answered = e.origin; document.title = 'answered'; }
});
</script>`,
        }),
      },
      '/favicon.ico': { status: 204, type: 'image/x-icon', body: '' },
    });
    t.defer(() => shop.close());
    const { page: shopTab, problems: shopProblems } = await newPage(browser, phone);
    try {
      await shopTab.goto(shop.url('/'));
      const frame = shopTab.frameLocator('#survey');
      await frame.locator('#survey-form').waitFor({ state: 'visible' });
      const layout = await frame.locator('html').evaluate((html) => ({
        embed: html.classList.contains('embed'),
        card: getComputedStyle(document.getElementById('survey-view')).borderTopWidth,
        scroll: [html.scrollWidth, html.clientWidth],
      }));
      assert(layout.embed, 'the page should know it is embedded');
      assertEq(layout.card, '0px', 'the card border in the compact layout');
      assert(layout.scroll[0] <= layout.scroll[1], `the embedded page is ${layout.scroll[0]} px wide in ${layout.scroll[1]} px`);
      t.log(await screenshot(shopTab, 'survey-embed'));
      await pick(frame, 'nps', 3).tap();
      const [response] = await Promise.all([
        shopTab.waitForResponse(isPost),
        frame.locator('#survey-submit').tap(),
      ]);
      assertEq(response.status(), 201, 'POST status from the iframe');
      await frame.locator('#survey-thanks').waitFor({ state: 'visible' });
      await shopTab.waitForFunction(() => window.answered, null, { timeout: 5_000 });
      assertEq(await shopTab.evaluate(() => window.answered), base, 'origin of the postMessage');
      assertEq(shopProblems, [], 'browser problems in the shop tab');
    } finally {
      await shopTab.context().close();
    }
    const r = await admin.expect(200, 'GET', `/admin/v1/surveys/${surveyId}/results`);
    assertEq([r?.responses, r?.nps?.promoters, r?.nps?.detractors], [2, 1, 1], 'responses, promoters, detractors');
  });

  await t.check('the page had no script errors', async () => {
    // Chrome logs every non-2xx document; the 409 of the reload above is expected.
    const real = problems.filter((p) => !/Failed to load resource: the server responded with a status of 409/.test(p));
    assertEq(real, [], 'browser problems');
  });
});
