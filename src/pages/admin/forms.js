// The Forms view: every signup form with its settings and the embed code to copy into the shop.
(function (A) {
  'use strict';
  var t = A.t, el = A.el, $ = A.$;

  function status(text, kind) {
    var s = $('forms-status');
    s.textContent = text;
    s.className = 'sec-status' + (kind ? ' ' + kind : '');
    A.show(s, !!text);
  }

  function mount(root) {
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
      render((r.json && Array.isArray(r.json.forms)) ? r.json.forms : []);
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
        el('div', { class: 'item-head' }, el('h3', { text: String(f.name || f.id) })),
        el('ul', { class: 'meta' },
          el('li', null, 'ID ', el('code', { text: f.id })),
          el('li', { text: t(f.double_opt_in ? 'forms.double_opt_in' : 'forms.single_opt_in') }),
          el('li', { text: t('forms.allowed_origins', { origins: origins }) }),
          f.created_at ? el('li', null, t('forms.created') + ' ', A.timeNode(f.created_at)) : null),
        el('label', { class: 'snippet-label', for: snippetId, text: t('forms.embed_code') }),
        el('div', { class: 'snippet' },
          el('textarea', { id: snippetId, readOnly: true, rows: 2, spellcheck: false, value: String(f.embed_html || '') }),
          el('button', { type: 'button', class: 'btn small secondary', 'data-action': 'copy', 'data-id': f.id, 'aria-describedby': snippetId }, t('forms.copy')))));
    });
    A.show(list, forms.length > 0);
  }

  A.view({ id: 'forms', title: 'forms.title', scopes: ['forms'], mount: mount, load: load });
  A.forms = { reload: load, copy: copy };
})(Admin);
