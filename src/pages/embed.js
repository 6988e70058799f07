/* Clientela signup widget: <script src="BASE/embed.js" data-form="frm_…" async> (and its end tag)
   (data-target="#id" renders into that element). No dependencies, no innerHTML.
   window.__clientela.preview(box, definition, locale) renders a form from a definition in hand
   (the admin page's live preview): it fetches nothing, loads no Turnstile and never submits. */
(() => {
  'use strict';
  const w = window, d = document, G = (w.__clientela = w.__clientela || { n: {} });
  const T = {
    en: {
      submit: 'Subscribe', sending: 'Sending…', note: 'Fields marked * are required.',
      pending: 'Almost done! Check your inbox and click the link to confirm your subscription.',
      done: 'Thank you! You are subscribed.', fix: 'Please correct the highlighted fields.',
      req: 'This field is required.', tick: 'Please tick this box to continue.',
      email: 'Enter a valid email address.', bad: 'Please check this value.',
      slow: 'Too many attempts. Try again in {n} s.', error: 'Something went wrong. Please try again.',
      bot: 'The security check failed. Please try again.', load: 'The signup form could not be loaded.', pv: 'Preview: nothing was sent.',
      l: { email: 'Email', name: 'Name', phone: 'Phone', city: 'City', country: 'Country', birth_date: 'Date of birth' }
    },
    'pt-BR': {
      submit: 'Inscrever-me', sending: 'Enviando…', note: 'Campos marcados com * são obrigatórios.',
      pending: 'Quase lá! Verifique sua caixa de entrada e clique no link para confirmar sua inscrição.',
      done: 'Obrigado! Sua inscrição está confirmada.', fix: 'Corrija os campos destacados.',
      req: 'Este campo é obrigatório.', tick: 'Marque esta caixa para continuar.',
      email: 'Informe um endereço de e-mail válido.', bad: 'Verifique este valor.',
      slow: 'Muitas tentativas. Tente novamente em {n} s.', error: 'Algo deu errado. Tente novamente.',
      bot: 'A verificação de segurança falhou. Tente novamente.', load: 'Não foi possível carregar o formulário.', pv: 'Pré-visualização: nada foi enviado.',
      l: { email: 'E-mail', name: 'Nome', phone: 'Telefone', city: 'Cidade', country: 'País', birth_date: 'Data de nascimento' }
    },
    ro: {
      submit: 'Abonare', sending: 'Se trimite…', note: 'Câmpurile marcate cu * sunt obligatorii.',
      pending: 'Aproape gata! Verifică-ți e-mailul și apasă pe link pentru a confirma abonarea.',
      done: 'Mulțumim! Ești abonat.', fix: 'Corectează câmpurile marcate.',
      req: 'Acest câmp este obligatoriu.', tick: 'Bifează această căsuță pentru a continua.',
      email: 'Introdu o adresă de e-mail validă.', bad: 'Verifică această valoare.',
      slow: 'Prea multe încercări. Încearcă din nou în {n} s.', error: 'Ceva nu a funcționat. Încearcă din nou.',
      bot: 'Verificarea de securitate a eșuat. Încearcă din nou.', load: 'Formularul nu a putut fi încărcat.', pv: 'Previzualizare: nu s-a trimis nimic.',
      l: { email: 'E-mail', name: 'Nume', phone: 'Telefon', city: 'Oraș', country: 'Țară', birth_date: 'Data nașterii' }
    },
    ru: {
      submit: 'Подписаться', sending: 'Отправка…', note: 'Поля, отмеченные *, обязательны.',
      pending: 'Почти готово! Проверьте почту и перейдите по ссылке, чтобы подтвердить подписку.',
      done: 'Спасибо! Вы подписаны.', fix: 'Исправьте отмеченные поля.',
      req: 'Это поле обязательно.', tick: 'Отметьте этот пункт, чтобы продолжить.',
      email: 'Введите корректный адрес электронной почты.', bad: 'Проверьте это значение.',
      slow: 'Слишком много попыток. Повторите через {n} с.', error: 'Что-то пошло не так. Попробуйте ещё раз.',
      bot: 'Проверка безопасности не пройдена. Попробуйте ещё раз.', load: 'Не удалось загрузить форму.', pv: 'Предпросмотр: ничего не отправлено.',
      l: { email: 'E-mail', name: 'Имя', phone: 'Телефон', city: 'Город', country: 'Страна', birth_date: 'Дата рождения' }
    }
  };
  const A = 'var(--clientela-accent,#1f5eff)', R = '#b3261e';
  const CSS = `.clientela{font:inherit;color:inherit;max-width:32rem;margin:1rem 0}
.clientela *{box-sizing:border-box}.clientela [hidden]{display:none!important}
.clientela-form{margin:0}.clientela-field{margin:0 0 1rem;padding:0;border:0;min-width:0}
.clientela-label,.clientela-field>legend{display:block;font-weight:600;margin:0 0 .35rem;padding:0}
.clientela-req{color:${R}}.clientela-note{font-size:.85em;margin:0 0 1rem;opacity:.85}
.clientela-input{display:block;width:100%;min-height:44px;font:inherit;color:#1d2430;background:#fff;padding:.55rem .7rem;border:1px solid #8a8f98;border-radius:6px}
.clientela-check{display:flex;gap:.55rem;align-items:flex-start;margin:.35rem 0;font-weight:400;line-height:1.4}
.clientela-check input{flex:none;width:1.2rem;height:1.2rem;margin:.1rem 0 0;accent-color:${A}}
.clientela-btn{font:inherit;font-weight:600;min-height:44px;padding:.65rem 1.5rem;border:0;border-radius:6px;cursor:pointer;color:#fff;background:${A}}
.clientela-btn[aria-disabled=true]{opacity:.7;cursor:progress}
.clientela :focus-visible{outline:3px solid #ffbf47;outline-offset:2px}
.clientela [aria-invalid=true]{border-color:${R}}
.clientela-error{color:${R};font-size:.9em;margin:.3rem 0 0}.clientela-turnstile{margin:0 0 1rem}
.clientela-status{margin:.75rem 0 0}.clientela-status:focus{outline:0}
.clientela-ok,.clientela-bad{padding:.75rem 1rem;border-radius:6px;border:1px solid}
.clientela-ok{background:#e8f5ec;color:#0b5d1e}.clientela-bad{background:#fdecea;color:#8c1d18}
@media (max-width:480px){.clientela-btn{width:100%}}`;

  const norm = (tag) => ({ en: 'en', pt: 'pt-BR', ro: 'ro', ru: 'ru' })[String(tag || '').split(/[-_]/)[0].toLowerCase()];
  const uiLocale = (pref) => [pref, ...(navigator.languages || [navigator.language])].map(norm).find(Boolean) || 'en';
  // [text, tag] from a {tag: text} map: exact tag, same language, English, first entry.
  const pick = (map, loc) => {
    const k = Object.keys(map || {});
    const t = k.find((x) => x.toLowerCase() === loc.toLowerCase()) || k.find((x) => norm(x) === loc) ||
      k.find((x) => norm(x) === 'en') || k[0];
    return t === undefined ? null : [map[t], t];
  };
  const el = (tag, attrs = {}, kids = []) => {
    const e = d.createElement(tag);
    for (const [a, v] of Object.entries(attrs)) {
      if (v === false || v == null) continue;
      if (a === 'text') e.textContent = v; else e.setAttribute(a, v === true ? '' : v);
    }
    kids.forEach((c) => c && e.appendChild(c));
    return e;
  };
  const injectCss = () => {
    if (G.css) return;
    G.css = 1;
    try { // a constructed sheet also works under a strict style-src CSP
      const s = new CSSStyleSheet();
      s.replaceSync(CSS);
      d.adoptedStyleSheets = [...d.adoptedStyleSheets, s];
    } catch (e) { d.head.appendChild(el('style', { text: CSS })); }
  };
  const turnstile = () => G.ts || (G.ts = new Promise((ok, fail) => {
    if (w.turnstile) return ok(w.turnstile);
    const s = el('script', { src: 'https://challenges.cloudflare.com/turnstile/v0/api.js?render=explicit', async: true });
    s.onload = () => (w.turnstile ? ok(w.turnstile) : fail());
    s.onerror = fail;
    d.head.appendChild(s);
  }));

  function render(box, def, base, loc, preview) {
    const t = T[loc], fid = def.id || 'preview', n = (G.n[fid] = (G.n[fid] || 0) + 1);
    const pre = `clientela-${fid}${n > 1 ? '-' + n : ''}-`, slots = {};
    let needNote = false, tsId = null, busy = false;
    const form = el('form', {
      class: 'clientela-form', 'data-form-id': fid, lang: loc, method: 'post', novalidate: true,
      'data-preview': preview && 'true',
      action: preview ? false : def.submit_url || `${base}/v1/forms/${encodeURIComponent(fid)}/submissions`
    });
    const status = el('div', { class: 'clientela-status', role: 'status', 'aria-live': 'polite', tabindex: '-1' });
    const label = (node, map, fallback, req) => {
      const p = pick(map, loc);
      node.textContent = p ? p[0] : fallback;
      if (p && norm(p[1]) !== loc) node.lang = p[1];
      if (req) { needNote = true; node.appendChild(el('span', { class: 'clientela-req', 'aria-hidden': 'true', text: ' *' })); }
      return node;
    };
    const add = (key, id, inputs, wrap, kind) => {
      const err = el('p', { class: 'clientela-error', id: id + '-error', hidden: true });
      wrap.appendChild(err);
      slots[key] = { inputs, err, kind };
      inputs.forEach((i) => i.addEventListener('change', () => clear(key)));
      form.appendChild(wrap);
    };
    const check = (id, input, span) => el('label', { class: 'clientela-check', for: id }, [input, span]);

    for (const f of def.fields || []) {
      const id = pre + f.key, req = !!f.required, type = f.type, opts = f.options || [];
      const fb = t.l[f.key] || f.key.replace(/_/g, ' ').replace(/^./, (c) => c.toUpperCase());
      const aria = { required: req, 'aria-required': req && 'true' };
      if (type === 'multi_choice' || (type === 'single_choice' && opts.length <= 6)) {
        const multi = type === 'multi_choice';
        const fs = el('fieldset', { class: 'clientela-field', id }, [label(el('legend'), f.label, fb, req)]);
        const boxes = opts.map((o, i) => {
          const inp = el('input', { type: multi ? 'checkbox' : 'radio', id: `${id}-${i}`, name: f.key, value: o, required: req && !multi });
          fs.appendChild(check(`${id}-${i}`, inp, el('span', { text: o })));
          return inp;
        });
        add(f.key, id, boxes, fs, req && multi ? 'some' : type);
        continue;
      }
      const wrap = el('div', { class: 'clientela-field' });
      let input;
      if (type === 'checkbox') {
        input = el('input', { type: 'checkbox', id, name: f.key, value: 'on', ...aria });
        wrap.appendChild(check(id, input, label(el('span'), f.label, fb, req)));
      } else {
        wrap.appendChild(label(el('label', { class: 'clientela-label', for: id }), f.label, fb, req));
        const common = { id, name: f.key, class: 'clientela-input', ...aria };
        if (type === 'single_choice') {
          input = el('select', common, [el('option', { value: '', text: '—' }), ...opts.map((o) => el('option', { value: o, text: o }))]);
        } else {
          input = el('input', {
            ...common, type: { email: 'email', phone: 'tel', date: 'date', number: 'number' }[type] || 'text',
            maxlength: f.max_len, step: type === 'number' && 'any', inputmode: type === 'email' && 'email',
            spellcheck: type === 'email' && 'false',
            autocomplete: { email: 'email', name: 'name', phone: 'tel', city: 'address-level2', country: 'country', birth_date: 'bday' }[f.key]
          });
        }
        wrap.appendChild(input);
      }
      add(f.key, id, [input], wrap, type);
    }

    for (const c of def.consents || []) {
      const id = `${pre}consent-${c.purpose}`, req = !!c.required;
      const input = el('input', { type: 'checkbox', id, name: 'consent.' + c.purpose, value: 'on', required: req, 'aria-required': req && 'true' });
      const wrap = el('div', { class: 'clientela-field clientela-consent' }, [check(id, input, label(el('span'), c.text, c.purpose, req))]);
      add('consent.' + c.purpose, id, [input], wrap, 'checkbox');
    }

    // Honeypot: hidden from people and assistive tech, yet not display:none (bots skip those).
    // Styled through CSSOM so it stays off-screen even if a CSP blocks our stylesheet.
    const hpName = def.honeypot_field || 'website';
    const hp = el('input', { type: 'text', id: pre + hpName, name: hpName, tabindex: '-1', autocomplete: 'off', value: '' });
    const hpBox = el('div', { 'aria-hidden': 'true', class: 'clientela-hp' }, [el('label', { for: pre + hpName, text: hpName }), hp]);
    Object.assign(hpBox.style, { position: 'absolute', left: '-10000px', top: 'auto', width: '1px', height: '1px', overflow: 'hidden' });
    form.appendChild(hpBox);
    if (needNote) form.prepend(el('p', { class: 'clientela-note', text: t.note }));
    if (def.turnstile_site_key && preview) { // where the challenge will show; nothing loaded
      form.appendChild(el('div', { class: 'clientela-turnstile clientela-note', text: 'Turnstile' }));
    } else if (def.turnstile_site_key) {
      const tsBox = form.appendChild(el('div', { class: 'clientela-turnstile' }));
      turnstile().then((ts) => {
        tsId = ts.render(tsBox, { sitekey: def.turnstile_site_key, language: loc.toLowerCase() });
      }).catch(() => {}); // without a token the server refuses, and we say so
    }
    const btn = form.appendChild(el('button', { type: 'submit', class: 'clientela-btn', text: t.submit }));
    box.append(form, status);

    const say = (msg, kind) => {
      status.className = 'clientela-status' + (kind ? ' clientela-' + kind : '');
      status.textContent = msg || '';
    };
    const described = (i, id, on) => {
      const ids = (i.getAttribute('aria-describedby') || '').split(' ').filter((x) => x && x !== id);
      if (on) ids.push(id);
      ids.length ? i.setAttribute('aria-describedby', ids.join(' ')) : i.removeAttribute('aria-describedby');
    };
    function clear(key) {
      const s = slots[key];
      s.err.hidden = true;
      s.err.textContent = '';
      s.inputs.forEach((i) => { i.removeAttribute('aria-invalid'); described(i, s.err.id, false); });
    }
    // errs: {key: message} from the server (or the local check); unknown keys go to the status line.
    const showErrors = (errs) => {
      let first = null;
      const extra = [];
      for (const [key, msg] of Object.entries(errs)) {
        const s = slots[key];
        let m = String(msg);
        if (!s) { extra.push(m); continue; }
        if (m === 'required') m = s.kind === 'checkbox' ? t.tick : t.req;
        else if (s.kind === 'email') m = t.email;
        s.err.textContent = m;
        s.err.hidden = false;
        s.inputs.forEach((i) => { i.setAttribute('aria-invalid', 'true'); described(i, s.err.id, true); });
        first = first || s;
      }
      say([t.fix, ...extra].join(' '), 'bad');
      if (first) first.inputs[0].focus();
    };
    const localErrors = () => {
      const errs = {};
      for (const [key, s] of Object.entries(slots)) {
        const v = s.inputs[0].validity;
        if (s.kind === 'some' ? !s.inputs.some((i) => i.checked) : v.valueMissing) errs[key] = 'required';
        else if (!v.valid) errs[key] = t.bad;
      }
      return errs;
    };
    const payload = () => {
      const fields = {}, consents = {};
      for (const f of def.fields || []) {
        const ins = slots[f.key].inputs;
        if (f.type === 'multi_choice') {
          const v = ins.filter((i) => i.checked).map((i) => i.value);
          if (v.length) fields[f.key] = v;
        } else if (f.type === 'checkbox') {
          if (ins[0].checked || f.required) fields[f.key] = ins[0].checked; // like a plain form: unticked is absent
        } else {
          const v = ins[0].type === 'radio' ? (ins.find((i) => i.checked) || { value: '' }).value : ins[0].value.trim();
          if (v !== '') fields[f.key] = f.type === 'number' && isFinite(+v) ? +v : v;
        }
      }
      fields[hpName] = hp.value;
      for (const c of def.consents || []) consents[c.purpose] = slots['consent.' + c.purpose].inputs[0].checked;
      const body = { fields, consents };
      if (tsId != null && w.turnstile) body.turnstile_token = w.turnstile.getResponse(tsId) || '';
      return JSON.stringify(body);
    };

    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      if (busy) return;
      Object.keys(slots).forEach(clear);
      const errs = localErrors();
      if (Object.keys(errs).length) return showErrors(errs);
      if (preview) return say(t.pv, 'ok');
      busy = true; // aria-disabled, not disabled: a disabled button would drop keyboard focus
      btn.setAttribute('aria-disabled', 'true');
      btn.textContent = t.sending;
      form.setAttribute('aria-busy', 'true');
      say('');
      try {
        const res = await fetch(form.action, {
          method: 'POST', mode: 'cors', credentials: 'omit', body: payload(),
          headers: { 'Content-Type': 'application/json', Accept: 'application/json', 'Accept-Language': loc }
        });
        if (res.ok) {
          form.hidden = true;
          say(def.double_opt_in ? t.pending : t.done, 'ok');
          status.focus();
        } else if (res.status === 429) {
          const ra = res.headers.get('Retry-After');
          const s = /^\d+$/.test(ra) ? +ra : Math.ceil((Date.parse(ra) - Date.now()) / 1000);
          say(t.slow.replace('{n}', s > 0 ? s : 60), 'bad');
        } else {
          const e = ((await res.json().catch(() => null)) || {}).error || {};
          if (res.status === 400 && e.fields && Object.keys(e.fields).length) showErrors(e.fields);
          else say(e.code === 'turnstile_failed' ? t.bot : t.error, 'bad');
        }
      } catch (e) {
        say(t.error, 'bad');
      }
      busy = false;
      btn.removeAttribute('aria-disabled');
      btn.textContent = t.submit;
      form.removeAttribute('aria-busy');
      try { if (tsId != null) w.turnstile.reset(tsId); } catch (e) { /* tokens are single-use; best effort */ }
    });
  }

  function mount(s) {
    const url = new URL(s.src, location.href), id = s.getAttribute('data-form') || '';
    const base = url.origin + url.pathname.replace(/\/embed\.js$/, '');
    const box = el('div', { class: 'clientela' });
    const target = s.getAttribute('data-target'), host = target && d.querySelector(target);
    if (host) host.appendChild(box);
    else if (d.body.contains(s)) s.after(box);
    else d.body.appendChild(box); // a script in <head> renders at the end of the body
    fetch(`${base}/v1/forms/${encodeURIComponent(id)}`, { mode: 'cors', credentials: 'omit', headers: { Accept: 'application/json' } })
      .then((r) => { if (!r.ok) throw new Error('HTTP ' + r.status); return r.json(); })
      .then((def) => render(box, def, base, uiLocale(def.locale)))
      .catch((e) => {
        box.appendChild(el('p', { class: 'clientela-status clientela-bad', role: 'status', text: T[uiLocale()].load }));
        if (w.console) console.warn('clientela: form ' + id + ' not loaded', e);
      });
  }

  // The admin page's live preview: the same render, from a definition in hand.
  G.preview = (box, def, locale) => {
    injectCss();
    while (box.firstChild) box.removeChild(box.firstChild);
    box.classList.add('clientela');
    render(box, def || {}, '', norm(locale) || uiLocale(def && def.locale), true);
  };

  // Async scripts have no document.currentScript: take every embed script not yet mounted.
  const boot = () => {
    injectCss();
    for (const s of d.querySelectorAll('script[data-form]')) {
      if (s.hasAttribute('data-clientela')) continue;
      try { if (!/\/embed\.js$/.test(new URL(s.src, location.href).pathname)) continue; } catch (e) { continue; }
      s.setAttribute('data-clientela', 'mounted');
      mount(s);
    }
  };
  // Wait for <body> (and any data-target) when loaded early, e.g. from <head>.
  if (d.readyState === 'loading') d.addEventListener('DOMContentLoaded', boot); else boot();
})();
