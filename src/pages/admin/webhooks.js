// The Webhooks view: each subscription, whether it is active or was disabled and why, and how its
// last delivery went.
(function (A) {
  'use strict';
  var t = A.t, el = A.el, $ = A.$;

  function status(text, kind) {
    var s = $('webhooks-status');
    s.textContent = text;
    s.className = 'sec-status' + (kind ? ' ' + kind : '');
    A.show(s, !!text);
  }

  function mount(root) {
    root.appendChild(el('div', { class: 'card', id: 'sec-webhooks' },
      el('div', { class: 'sec-head' }, el('h3', { id: 'h-webhooks-list', text: t('webhooks.list_title') }),
        el('span', { class: 'count', id: 'webhooks-count', hidden: true })),
      el('p', { class: 'intro', text: t('webhooks.intro') }),
      el('p', { class: 'sec-status', id: 'webhooks-status' }),
      el('ul', { class: 'items', id: 'webhooks-list', 'aria-labelledby': 'h-webhooks-list', hidden: true })));
  }

  function load() {
    var s = $('webhooks-status');
    if (s.dataset.loaded !== 'yes') status(t('webhooks.loading'));
    return A.api('GET', '/admin/v1/webhooks').then(function (r) {
      if (r.status === -1 || r.status === 401) return;
      if (r.status !== 200) {
        s.dataset.loaded = '';
        status(A.failure('webhooks.what', r), r.status === 403 ? 'forbidden' : 'failed');
        A.clear($('webhooks-list'));
        A.show($('webhooks-list'), false);
        return;
      }
      render((r.json && Array.isArray(r.json.webhooks)) ? r.json.webhooks : []);
    });
  }

  function render(hooks) {
    var list = $('webhooks-list');
    A.clear(list);
    $('webhooks-status').dataset.loaded = 'yes';
    var count = $('webhooks-count');
    count.textContent = String(hooks.length);
    A.show(count, true);
    status(hooks.length ? '' : t('webhooks.none'));
    hooks.forEach(function (h) {
      var last = h.last_delivery;
      var lastText = !last ? t('webhooks.no_deliveries')
        : t('webhooks.last_delivery', { state: String(last.state), attempts: last.attempts || 0, count: last.attempts || 0,
          http: last.last_status ? ' (HTTP ' + last.last_status + ')' : '' });
      var disabled = h.state === 'disabled';
      list.appendChild(el('li', { class: 'item', 'data-webhook-id': h.id },
        el('div', { class: 'item-head' }, el('h3', { text: String(h.description || h.url) }),
          el('span', { class: 'pill ' + (disabled ? 'building' : 'ready'), text: t(disabled ? 'webhooks.disabled' : 'webhooks.active') })),
        el('ul', { class: 'meta' },
          el('li', null, 'URL ', el('code', { text: String(h.url) })),
          el('li', { text: t('webhooks.events', { events: Array.isArray(h.events) ? h.events.join(', ') : '' }) }),
          el('li', { class: 'last-delivery', text: lastText }),
          disabled && h.disabled_reason ? el('li', { text: t('webhooks.why', { why: String(h.disabled_reason) }) }) : null,
          h.failing_since && !disabled ? el('li', null, t('webhooks.failing_since') + ' ', A.timeNode(h.failing_since)) : null)));
    });
    A.show(list, hooks.length > 0);
  }

  A.view({ id: 'webhooks', title: 'webhooks.title', scopes: ['webhooks'], mount: mount, load: load });
})(Admin);
