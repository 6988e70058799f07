// The Forms view: the form builder (every setting of a signup form, with the real widget drawn
// live beside it) and every signup form with its settings and the embed code to copy into the shop.
(function (A) {
  'use strict';
  var t = A.t, el = A.el, $ = A.$;
  var forms = [];

  function status(text, kind) {
    var s = $('forms-status');
    s.textContent = text;
    s.className = 'sec-status' + (kind ? ' ' + kind : '');
    A.show(s, !!text);
  }

  // The builders' rows (shared with the survey builder) and the preview pane beside the form.
  A.style('.fb-row{border:1px solid var(--line);border-radius:8px;padding:.75rem 1rem .25rem;margin:0 0 1rem;min-width:0}' +
    '.fb-legend{font-weight:700;padding:0 .3rem}' +
    '.locales{border:0;padding:0;margin:0 0 .5rem;min-width:0;display:grid;grid-template-columns:repeat(auto-fit,minmax(11rem,1fr));gap:0 .75rem}' +
    '.locales>legend{font-weight:600;margin:0 0 .35rem;padding:0}' +
    '.field.check{display:flex;gap:.5rem;align-items:center;min-height:44px}.field.check>label{margin:0;font-weight:600}' +
    '.fb-row-actions{margin:0 0 .75rem}.fb-submit{margin:1.25rem 0 1rem}' +
    '#fb-form input:not([type=checkbox]),#fb-form select,#sb-form input:not([type=checkbox]),#sb-form select{width:100%;max-width:32rem}' +
    '.fb-preview-col{position:sticky;top:1rem;align-self:start}' +
    '.fb-preview{border:1px dashed var(--field);border-radius:8px;padding:1rem;background:#fff;min-height:6rem}');

  function mount(root) {
    mountBuilder(root, load);
    root.appendChild(el('div', { class: 'card', id: 'sec-forms' },
      el('div', { class: 'sec-head' }, el('h3', { id: 'h-forms-list', text: t('forms.list_title') }),
        el('span', { class: 'count', id: 'forms-count', hidden: true })),
      el('p', { class: 'intro', text: t('forms.intro') }),
      el('p', { class: 'sec-status', id: 'forms-status' }),
      el('ul', { class: 'items', id: 'forms-list', 'aria-labelledby': 'h-forms-list', hidden: true })));
    var list = $('forms-list');
    list.addEventListener('click', function (e) {
      var button = e.target.closest('button[data-action="copy"]');
      if (button) copy($('embed-' + button.dataset.id));
      var edit = e.target.closest('button[data-action="edit"]');
      var form = edit && forms.filter(function (f) { return f.id === edit.dataset.id; })[0];
      if (!form) return;
      fillBuilder(form);
      builder.root.scrollIntoView({ block: 'start' });
      builder.root.querySelector('#fb-name').focus();
    });
    list.addEventListener('focusin', function (e) { if (e.target.tagName === 'TEXTAREA') e.target.select(); });
  }

  // Copies a snippet: the clipboard API where allowed, else the selection and execCommand, else
  // the snippet stays selected for Ctrl+C.
  function copy(area) {
    if (!area) return;
    var copied = function () { A.say(t('forms.copied')); };
    var manual = function () {
      area.focus();
      area.select();
      var ok = false;
      try { ok = document.execCommand('copy'); } catch (err) { ok = false; }
      if (ok) copied(); else A.say(t('forms.copy_manually'));
    };
    if (navigator.clipboard && navigator.clipboard.writeText) navigator.clipboard.writeText(area.value).then(copied, manual);
    else manual();
  }

  // ---- Form builder ---------------------------------------------------------------------------
  // The form as the marketer types it lives in the inputs themselves; `collect()` reads them into
  // the definition the API takes. Every input carries `data-path`, the JSON path the server names
  // in a validation error, so each error lands next to the input that caused it. The preview is
  // the published widget itself (src/pages/embed.js, inlined in this page), asked to render the
  // definition in hand: it fetches nothing and never submits.
  var LOCALES = ['en', 'pt-BR', 'ro', 'ru'];
  var FIELD_TYPES = ['email', 'text', 'phone', 'date', 'number', 'single_choice', 'multi_choice', 'checkbox'];
  var PURPOSES = ['marketing_email', 'sms', 'whatsapp', 'profiling', 'satisfaction_surveys'];
  var builder = null; // {root, editing: form id or null}
  // Whole keys, so every string the page can ask for is a literal the i18n check can see.
  var LOCALE_NAMES = { en: 'forms.builder_locale_en', 'pt-BR': 'forms.builder_locale_pt_BR', ro: 'forms.builder_locale_ro', ru: 'forms.builder_locale_ru' };
  var TYPE_NAMES = {
    email: 'forms.type_email', text: 'forms.type_text', phone: 'forms.type_phone', date: 'forms.type_date', number: 'forms.type_number',
    single_choice: 'forms.type_single_choice', multi_choice: 'forms.type_multi_choice', checkbox: 'forms.type_checkbox',
  };


  var labelled = A.labelled, checkField = A.checkField;
  function select(values, current, path, labelOf) {
    var s = el('select', { 'data-path': path });
    values.forEach(function (v) { s.appendChild(el('option', { value: v, text: labelOf ? labelOf(v) : v })); });
    s.value = current;
    return s;
  }
  // One text input per locale, for a label or a consent text.
  function perLocale(values, multiline, legend) { return A.localeInputs(legend, LOCALES, LOCALE_NAMES, values, multiline); }

  function fieldRow(f) {
    var row = el('fieldset', { class: 'fb-row', 'data-kind': 'field' });
    var type = select(FIELD_TYPES, f.type || 'text', '', function (v) { return t(TYPE_NAMES[v]); });
    var options = el('input', { value: Array.isArray(f.options) ? f.options.join(', ') : '' });
    var optionsField = labelled(t('forms.builder_options'), options, t('forms.builder_options_hint'));
    var syncOptions = function () { A.show(optionsField, /choice$/.test(type.value)); };
    type.addEventListener('change', syncOptions);
    row.append(
      el('legend', { class: 'fb-legend' }),
      el('div', { class: 'row' },
        labelled(t('forms.builder_field_key'), el('input', { value: f.key || '', 'data-role': 'key', spellcheck: 'false', autocomplete: 'off' }),
          t('forms.builder_field_key_hint')),
        labelled(t('forms.builder_field_type'), type),
        checkField(t('forms.builder_required'), el('input', { type: 'checkbox', checked: !!f.required, 'data-role': 'required' }))),
      perLocale(f.label, false, t('forms.builder_labels')),
      optionsField,
      rowButtons());
    type.setAttribute('data-role', 'type');
    options.setAttribute('data-role', 'options');
    // What the builder does not edit survives a save (a PATCH replaces `fields` whole).
    row.fbExtra = { type: f.type, max_len: f.max_len, min: f.min, max: f.max };
    syncOptions();
    return row;
  }
  function consentRow(c) {
    var row = el('fieldset', { class: 'fb-row', 'data-kind': 'consent' });
    var purpose = select(PURPOSES, c.purpose || 'marketing_email', '', function (v) { return v; });
    purpose.setAttribute('data-role', 'purpose');
    row.append(
      el('legend', { class: 'fb-legend' }),
      el('div', { class: 'row' },
        labelled(t('forms.builder_purpose'), purpose),
        labelled(t('forms.builder_policy_version'), el('input', { value: c.policy_version || '', 'data-role': 'policy_version' }),
          t('forms.builder_policy_version_hint')),
        checkField(t('forms.builder_required'), el('input', { type: 'checkbox', checked: c.required !== false, 'data-role': 'required' }))),
      perLocale(c.text, true, t('forms.builder_consent_texts')),
      rowButtons());
    return row;
  }
  function rowButtons() { return A.rowButtons(t('forms.builder_move_up'), t('forms.builder_move_down'), t('forms.builder_remove')); }
  // Legends, data-path and accessible names follow each row's position.
  function renumber() {
    ['field', 'consent'].forEach(function (kind) {
      var rows = builder.root.querySelectorAll('.fb-row[data-kind="' + kind + '"]');
      Array.prototype.forEach.call(rows, function (row, i) {
        var prefix = (kind === 'field' ? 'fields' : 'consents') + '[' + i + ']';
        row.setAttribute('data-path', prefix);
        row.querySelector('.fb-legend').textContent = t(kind === 'field' ? 'forms.builder_field_n' : 'forms.builder_consent_n', { n: i + 1 });
        Array.prototype.forEach.call(row.querySelectorAll('[data-role]'), function (input) {
          input.setAttribute('data-path', prefix + '.' + input.getAttribute('data-role'));
        });
        Array.prototype.forEach.call(row.querySelectorAll('[data-locale]'), function (input) {
          input.setAttribute('data-path', prefix + '.' + (kind === 'field' ? 'label' : 'text') + '.' + input.getAttribute('data-locale'));
        });
        Array.prototype.forEach.call(row.querySelectorAll('.fb-row-actions button'), function (b) {
          b.setAttribute('aria-label', b.textContent + ' — ' + row.querySelector('.fb-legend').textContent);
        });
      });
    });
  }

  function texts(row) {
    var out = {};
    Array.prototype.forEach.call(row.querySelectorAll('[data-locale]'), function (input) {
      var v = input.value.trim();
      if (v) out[input.getAttribute('data-locale')] = v;
    });
    return out;
  }
  function role(row, r) { return row.querySelector('[data-role="' + r + '"]'); }
  // The definition in the builder, as POST / PATCH /admin/v1/forms take it.
  function collect() {
    var $ = function (id) { return builder.root.querySelector('#' + id); };
    var blank = function (v) { v = v.trim(); return v === '' ? null : v; };
    var def = {
      name: $('fb-name').value.trim(),
      locale: blank($('fb-locale').value),
      allowed_origins: $('fb-origins').value.split(/[\s,]+/).filter(Boolean),
      double_opt_in: $('fb-double-opt-in').checked,
      redirect_url: blank($('fb-redirect').value),
      turnstile_site_key: blank($('fb-turnstile').value),
      fields: [],
      consents: [],
    };
    Array.prototype.forEach.call(builder.root.querySelectorAll('.fb-row[data-kind="field"]'), function (row) {
      var f = { key: role(row, 'key').value.trim(), type: role(row, 'type').value, required: role(row, 'required').checked, label: texts(row) };
      if (/choice$/.test(f.type)) f.options = role(row, 'options').value.split(',').map(function (o) { return o.trim(); }).filter(Boolean);
      var extra = row.fbExtra || {};
      if (extra.type === f.type) ['max_len', 'min', 'max'].forEach(function (k) { if (extra[k] != null) f[k] = extra[k]; });
      def.fields.push(f);
    });
    Array.prototype.forEach.call(builder.root.querySelectorAll('.fb-row[data-kind="consent"]'), function (row) {
      def.consents.push({ purpose: role(row, 'purpose').value, required: role(row, 'required').checked,
        policy_version: role(row, 'policy_version').value.trim(), text: texts(row) });
    });
    return def;
  }
  // What the widget can draw while the form is half typed: fields without a usable key wait.
  function previewable(def) {
    var seen = {};
    return {
      id: builder.editing || 'preview', name: def.name, locale: def.locale, double_opt_in: def.double_opt_in,
      turnstile_site_key: def.turnstile_site_key,
      fields: def.fields.filter(function (f) {
        var ok = /^[a-z][a-z0-9_]{0,39}$/.test(f.key) && !seen[f.key];
        seen[f.key] = true;
        return ok;
      }),
      consents: def.consents.filter(function (c) { return c.purpose; }),
    };
  }
  function renderPreview() {
    var box = builder.root.querySelector('#fb-preview');
    if (!window.__clientela || !window.__clientela.preview) { box.textContent = t('forms.preview_unavailable'); return; }
    var def = previewable(collect()), locale = builder.root.querySelector('#fb-preview-locale').value;
    // Unchanged (a save, a blur, a late debounce): what the marketer typed into the preview stays.
    var drawn = JSON.stringify([def, locale]);
    if (drawn === builder.drawn && box.firstChild) return;
    builder.drawn = drawn;
    window.__clientela.preview(box, def, locale);
  }

  function clearErrors() { A.clearPathErrors(builder.root.querySelector('#fb-form'), builder.root.querySelector('#fb-errors')); }
  function showErrors(fields) { A.pathErrors(builder.root, builder.root.querySelector('#fb-errors'), fields, t('forms.builder_fix')); }

  function fillBuilder(form) {
    var $ = function (id) { return builder.root.querySelector('#' + id); };
    builder.editing = form && form.id ? form.id : null;
    form = form || {
      name: '', locale: null, allowed_origins: [], double_opt_in: true, redirect_url: null, turnstile_site_key: null,
      fields: [{ key: 'email', type: 'email', required: true, label: { en: 'Email', 'pt-BR': 'E-mail' } }],
      consents: [],
    };
    clearErrors();
    $('fb-name').value = form.name || '';
    $('fb-locale').value = form.locale || '';
    $('fb-origins').value = (form.allowed_origins || []).join('\n');
    $('fb-double-opt-in').checked = form.double_opt_in !== false;
    $('fb-redirect').value = form.redirect_url || '';
    $('fb-turnstile').value = form.turnstile_site_key || '';
    var fields = $('fb-fields'), consents = $('fb-consents');
    A.clear(fields);
    A.clear(consents);
    (form.fields || []).forEach(function (f) { fields.appendChild(fieldRow(f)); });
    (form.consents || []).forEach(function (c) { consents.appendChild(consentRow(c)); });
    renumber();
    $('fb-title').textContent = builder.editing ? t('forms.builder_edit_title', { name: form.name || form.id }) : t('forms.builder_new_title');
    $('fb-save').textContent = builder.editing ? t('forms.builder_save') : t('forms.builder_create');
    A.show($('fb-snippet-box'), !!builder.editing);
    if (builder.editing) $('fb-snippet').value = String(form.embed_html || '');
    renderPreview();
  }

  function mountBuilder(root, reload) {
    builder = { root: null, editing: null };
    var E = A.el;
    var localeSelect = E('select', { id: 'fb-locale', 'data-path': 'locale' }, E('option', { value: '', text: t('forms.builder_locale_auto') }));
    LOCALES.forEach(function (l) { localeSelect.appendChild(E('option', { value: l, text: t(LOCALE_NAMES[l]) })); });
    var previewLocale = E('select', { id: 'fb-preview-locale' });
    LOCALES.forEach(function (l) {
      previewLocale.appendChild(E('option', { value: l, text: t(LOCALE_NAMES[l]) }));
    });
    previewLocale.value = LOCALES.indexOf(A.lang) >= 0 ? A.lang : 'en';
    var card = E('section', { class: 'card fb', id: 'form-builder', 'aria-labelledby': 'fb-title' },
      E('h3', { id: 'fb-title', text: t('forms.builder_new_title') }),
      E('div', { class: 'grid2' },
        E('form', { id: 'fb-form', novalidate: true },
          E('div', { class: 'notice error', id: 'fb-errors', role: 'alert', tabIndex: -1, hidden: true }),
          labelled(t('forms.builder_name'), E('input', { id: 'fb-name', 'data-path': 'name', required: true, autocomplete: 'off' })),
          labelled(t('forms.builder_locale'), localeSelect, t('forms.builder_locale_hint')),
          labelled(t('forms.builder_origins'), E('textarea', { id: 'fb-origins', 'data-path': 'allowed_origins', rows: 2, spellcheck: 'false' }),
            t('forms.builder_origins_hint')),
          checkField(t('forms.builder_double_opt_in'), E('input', { type: 'checkbox', id: 'fb-double-opt-in', 'data-path': 'double_opt_in' })),
          labelled(t('forms.builder_redirect'), E('input', { id: 'fb-redirect', type: 'url', 'data-path': 'redirect_url', spellcheck: 'false' }),
            t('forms.builder_redirect_hint')),
          labelled(t('forms.builder_turnstile'), E('input', { id: 'fb-turnstile', 'data-path': 'turnstile_site_key', spellcheck: 'false', autocomplete: 'off' }),
            t('forms.builder_turnstile_hint')),
          E('h4', { text: t('forms.builder_fields') }),
          E('div', { id: 'fb-fields', 'data-path': 'fields' }),
          E('button', { type: 'button', class: 'btn small secondary', id: 'fb-add-field', text: t('forms.builder_add_field') }),
          E('h4', { text: t('forms.builder_consents') }),
          E('div', { id: 'fb-consents', 'data-path': 'consents' }),
          E('button', { type: 'button', class: 'btn small secondary', id: 'fb-add-consent', text: t('forms.builder_add_consent') }),
          E('div', { class: 'row fb-submit' },
            E('button', { type: 'submit', class: 'btn', id: 'fb-save', text: t('forms.builder_create') }),
            E('button', { type: 'button', class: 'btn secondary', id: 'fb-new', text: t('forms.builder_new') })),
          E('div', { id: 'fb-snippet-box', hidden: true },
            E('label', { for: 'fb-snippet', text: t('forms.embed_code') }),
            E('div', { class: 'snippet' },
              E('textarea', { id: 'fb-snippet', readOnly: true, rows: 2, spellcheck: 'false' }),
              E('button', { type: 'button', class: 'btn small secondary', id: 'fb-copy', 'aria-describedby': 'fb-snippet', text: t('forms.copy') })))),
        E('div', { class: 'fb-preview-col' },
          E('h4', { id: 'fb-preview-title', text: t('forms.preview') }),
          labelled(t('forms.preview_locale'), previewLocale),
          E('p', { class: 'hint', text: t('forms.preview_hint') }),
          E('div', { id: 'fb-preview', class: 'fb-preview', role: 'region', 'aria-labelledby': 'fb-preview-title' }))));
    root.appendChild(card);
    builder.root = card;
    var refresh = A.debounce(renderPreview, 250);
    card.addEventListener('input', function (e) { if (!e.target.closest('#fb-preview')) refresh(); });
    card.addEventListener('change', function (e) { if (!e.target.closest('#fb-preview')) refresh(); });
    card.querySelector('#fb-add-field').addEventListener('click', function () {
      var row = fieldRow({ type: 'text', label: {} });
      card.querySelector('#fb-fields').appendChild(row);
      renumber();
      role(row, 'key').focus();
      refresh();
    });
    card.querySelector('#fb-add-consent').addEventListener('click', function () {
      var row = consentRow({ purpose: 'marketing_email', required: true, text: {} });
      card.querySelector('#fb-consents').appendChild(row);
      renumber();
      role(row, 'purpose').focus();
      refresh();
    });
    card.addEventListener('click', function (e) {
      var b = e.target.closest('.fb-row-actions button');
      if (!b) return;
      var row = b.closest('.fb-row'), action = b.getAttribute('data-action');
      if (action === 'remove') {
        var next = row.nextElementSibling || row.previousElementSibling;
        row.remove();
        (next ? next.querySelector('input, select') : card.querySelector('#fb-add-' + row.getAttribute('data-kind'))).focus();
      } else if (action === 'up' && row.previousElementSibling) {
        row.parentNode.insertBefore(row, row.previousElementSibling);
        b.focus();
      } else if (action === 'down' && row.nextElementSibling) {
        row.parentNode.insertBefore(row.nextElementSibling, row);
        b.focus();
      }
      renumber();
      refresh();
    });
    card.querySelector('#fb-new').addEventListener('click', function () { fillBuilder(null); card.querySelector('#fb-name').focus(); });
    card.querySelector('#fb-copy').addEventListener('click', function () { copy(card.querySelector('#fb-snippet')); });
    card.querySelector('#fb-snippet').addEventListener('focus', function (e) { e.target.select(); });
    card.querySelector('#fb-form').addEventListener('submit', function (e) {
      e.preventDefault();
      var button = card.querySelector('#fb-save');
      if (A.isBusy(button)) return;
      clearErrors();
      var def = collect(), editing = builder.editing;
      A.busy(button, true, t('forms.builder_saving'));
      var call = editing ? A.api('PATCH', '/admin/v1/forms/' + encodeURIComponent(editing), def) : A.api('POST', '/admin/v1/forms', def);
      call.then(function (r) {
        A.busy(button, false);
        if ((r.status === 200 || r.status === 201) && r.json && r.json.id) {
          fillBuilder(r.json);
          A.say(t(editing ? 'forms.builder_saved' : 'forms.builder_created', { name: r.json.name }));
          card.querySelector('#fb-snippet').focus();
          reload();
          return;
        }
        var fields = r.json && r.json.error && r.json.error.fields;
        if (r.status === 400 && fields && Object.keys(fields).length) showErrors(fields);
        else A.say(A.failure('forms.builder_what', r), 'error');
      });
    });
    fillBuilder(null);
  }

  function load() {
    var s = $('forms-status');
    if (s.dataset.loaded !== 'yes') status(t('forms.loading'));
    return A.api('GET', '/admin/v1/forms').then(function (r) {
      if (r.status === -1 || r.status === 401) return;
      if (r.status !== 200) {
        s.dataset.loaded = '';
        status(A.failure('forms.what', r), r.status === 403 ? 'forbidden' : 'failed');
        A.clear($('forms-list'));
        A.show($('forms-list'), false);
        return;
      }
      forms = (r.json && Array.isArray(r.json.forms)) ? r.json.forms : [];
      render(forms);
    });
  }

  function render(forms) {
    var list = $('forms-list');
    A.clear(list);
    $('forms-status').dataset.loaded = 'yes';
    var count = $('forms-count');
    count.textContent = String(forms.length);
    A.show(count, true);
    status(forms.length ? '' : t('forms.none'));
    forms.forEach(function (f) {
      var snippetId = 'embed-' + f.id;
      var origins = Array.isArray(f.allowed_origins) && f.allowed_origins.length ? f.allowed_origins.join(', ') : t('forms.no_origins');
      list.appendChild(el('li', { class: 'item', 'data-form-id': f.id },
        el('div', { class: 'item-head' }, el('h3', { text: String(f.name || f.id) }),
          el('button', { type: 'button', class: 'btn small secondary', 'data-action': 'edit', 'data-id': f.id },
            t('forms.edit'), el('span', { class: 'visually-hidden', text: ' ' + String(f.name || f.id) }))),
        el('ul', { class: 'meta' },
          el('li', null, 'ID ', el('code', { text: f.id })),
          el('li', { text: t(f.double_opt_in ? 'forms.double_opt_in' : 'forms.single_opt_in') }),
          el('li', { text: t('forms.allowed_origins', { origins: origins }) }),
          f.created_at ? el('li', null, t('forms.created') + ' ', A.timeNode(f.created_at)) : null),
        el('label', { class: 'snippet-label', for: snippetId, text: t('forms.embed_code') }),
        el('div', { class: 'snippet' },
          el('textarea', { id: snippetId, readOnly: true, rows: 2, spellcheck: 'false', value: String(f.embed_html || '') }),
          el('button', { type: 'button', class: 'btn small secondary', 'data-action': 'copy', 'data-id': f.id, 'aria-describedby': snippetId }, t('forms.copy')))));
    });
    A.show(list, forms.length > 0);
  }

  A.view({ id: 'forms', title: 'forms.title', scopes: ['forms'], mount: mount, load: load });
  A.forms = { reload: load, copy: copy };
})(Admin);
