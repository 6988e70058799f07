// Contacts: look one person up by email (GET /admin/v1/contacts?email=, then /contacts/{id}) and
// read what is held about them: the profile, their consents with the full history as a timeline
// (what, when, through which form and notice; the notice words on demand from
// GET /admin/v1/notices/{sha256}), latest orders, survey answers, and segments with why.
(function () {
  var t = Admin.t, el = Admin.el;
  var PURPOSES = ['marketing_email', 'sms', 'whatsapp', 'profiling', 'satisfaction_surveys'];
  var METHODS = ['form', 'double_opt_in', 'self_service', 'one_click_unsubscribe', 'import', 'admin', 're_permission', 'expired', 'gpc'];
  var formNames = null; // id → name, when the key may list forms
  // Another key (maybe without `forms`) may sign in next: it must not inherit the names.
  Admin.onSignOut(function () { formNames = null; });
  var noticeSeq = 0;

  function purposeLabel(p) {
    return PURPOSES.indexOf(p) >= 0 ? t('contacts.purpose.' + p) : p;
  }
  function methodLabel(m) {
    return METHODS.indexOf(m) >= 0 ? t('contacts.method.' + m) : m;
  }
  function sourceLabel(s) {
    if (s === 'me') return t('contacts.source.me');
    if (formNames && formNames[s]) return t('contacts.source.form', { name: formNames[s], id: s });
    return s;
  }
  function money(cents, currency) {
    try {
      return new Intl.NumberFormat(Admin.lang, { style: 'currency', currency: currency }).format(cents / 100);
    } catch (e) {
      return Admin.fmtNum(cents / 100) + ' ' + currency;
    }
  }
  function when(iso) {
    return iso ? Admin.timeNode(iso) : el('span', { class: 'muted', text: t('contacts.never') });
  }
  function section(id, heading) {
    var box = el('section', { class: 'card', id: 'contact-' + id, 'aria-labelledby': 'contact-h-' + id },
      el('h3', { id: 'contact-h-' + id, text: heading }));
    for (var i = 2; i < arguments.length; i++) if (arguments[i]) box.appendChild(arguments[i]);
    return box;
  }
  function empty(key) {
    return el('p', { class: 'muted', text: t(key) });
  }

  function loadFormNames() {
    if (formNames || !Admin.can('forms')) return Promise.resolve();
    return Admin.api('GET', '/admin/v1/forms').then(function (r) {
      if (r.status !== 200 || !r.json) return;
      formNames = {};
      (r.json.forms || []).forEach(function (f) { formNames[f.id] = f.name; });
    });
  }

  // One consent event of the timeline, oldest first as the API gives them.
  function event(e) {
    var granted = e.action === 'granted';
    var item = el('li', { class: 'tl-item ' + (granted ? 'granted' : 'withdrawn'), 'data-action': e.action, 'data-purpose': e.purpose },
      el('div', { class: 'tl-head' },
        el('span', { class: 'pill ' + (granted ? 'ready' : 'building'), text: t(granted ? 'contacts.timeline.granted' : 'contacts.timeline.withdrawn') }),
        el('strong', { text: purposeLabel(e.purpose) }),
        when(e.at)),
      el('ul', { class: 'meta' },
        el('li', { 'data-field': 'method', text: t('contacts.timeline.how', { method: methodLabel(e.method) }) }),
        el('li', { 'data-field': 'source', text: t('contacts.timeline.where', { source: sourceLabel(e.source) }) }),
        e.policy_version ? el('li', { text: t('contacts.timeline.policy', { version: e.policy_version }) }) : null,
        e.frequency ? el('li', { text: t('contacts.timeline.frequency', { frequency: e.frequency }) }) : null));
    if (e.notice_text_hash) {
      noticeSeq += 1;
      var boxId = 'contact-notice-' + noticeSeq;
      var words = el('blockquote', { id: boxId, class: 'tl-notice', hidden: true, 'aria-live': 'polite' });
      var button = el('button', {
        type: 'button', class: 'linkish', text: t('contacts.timeline.show_notice'),
        'aria-expanded': 'false', 'aria-controls': boxId,
      });
      button.addEventListener('click', function () {
        if (Admin.isBusy(button)) return;
        var open = button.getAttribute('aria-expanded') === 'true';
        if (open) {
          words.hidden = true;
          button.setAttribute('aria-expanded', 'false');
          button.textContent = t('contacts.timeline.show_notice');
          return;
        }
        var shown = function () {
          words.hidden = false;
          button.setAttribute('aria-expanded', 'true');
          button.textContent = t('contacts.timeline.hide_notice');
        };
        if (words.getAttribute('data-loaded')) { shown(); return; }
        Admin.busy(button, true, t('contacts.timeline.loading_notice'));
        Admin.api('GET', '/admin/v1/notices/' + encodeURIComponent(e.notice_text_hash)).then(function (r) {
          Admin.busy(button, false);
          if (r.status !== 200 || !r.json) {
            Admin.say(Admin.failure('contacts.notice_what', r), 'error');
            return;
          }
          Admin.clear(words);
          words.appendChild(el('p', { class: 'tl-words', text: r.json.text }));
          words.appendChild(el('footer', { class: 'meta', text: t('contacts.timeline.notice_meta', {
            locale: r.json.locale, version: r.json.policy_version || '—',
          }) }));
          words.setAttribute('data-loaded', '1');
          shown();
        });
      });
      item.appendChild(button);
      item.appendChild(words);
    }
    return item;
  }

  function render(doc) {
    var out = Admin.$('contacts-result');
    Admin.clear(out);
    var stats = doc.stats || {};
    var row = function (key, value) {
      return el('div', {}, el('dt', { text: t(key) }), el('dd', {}, value));
    };
    var text = function (v) { return document.createTextNode(v == null || v === '' ? '—' : String(v)); };
    var attrs = Object.keys(doc.attributes || {});
    out.appendChild(section('profile', t('contacts.profile.title'),
      el('dl', { class: 'stats contact-profile' },
        row('contacts.profile.email', text(doc.email)),
        row('contacts.profile.name', text(doc.name)),
        row('contacts.profile.status', el('span', { 'data-status': doc.status, text: t('contacts.status.' + doc.status) })),
        row('contacts.profile.source', text(sourceLabel(doc.source))),
        row('contacts.profile.created', when(doc.created_at)),
        row('contacts.profile.confirmed', when(doc.confirmed_at)),
        row('contacts.profile.country', text(doc.country)),
        row('contacts.profile.locale', text(doc.locale)),
        row('contacts.profile.temperature', text(stats.temperature ? t('overview.temperature.' + stats.temperature) : null))),
      attrs.length ? el('table', { class: 'stack' },
        el('caption', { text: t('contacts.profile.attributes') }),
        el('thead', {}, el('tr', {}, el('th', { scope: 'col', text: t('contacts.profile.attribute') }), el('th', { scope: 'col', text: t('contacts.profile.value') }))),
        el('tbody', {}, attrs.map(function (k) {
          var v = doc.attributes[k];
          return el('tr', {}, el('th', { scope: 'row', text: k }), el('td', { text: typeof v === 'string' ? v : JSON.stringify(v) }));
        }))) : null));

    var consents = doc.consents || [];
    out.appendChild(section('consents', t('contacts.consents.title'),
      consents.length ? el('ul', { class: 'items' }, consents.map(function (c) {
        return el('li', { class: 'item', 'data-purpose': c.purpose, 'data-granted': String(c.granted) },
          el('div', { class: 'item-head' },
            el('strong', { text: purposeLabel(c.purpose) }),
            el('span', { class: 'pill ' + (c.granted ? 'ready' : 'other'), text: t(c.granted ? 'contacts.consents.on' : 'contacts.consents.off') })),
          el('ul', { class: 'meta' },
            el('li', {}, document.createTextNode(t('contacts.consents.since') + ' '), when(c.updated_at)),
            c.policy_version ? el('li', { text: t('contacts.timeline.policy', { version: c.policy_version }) }) : null));
      })) : empty('contacts.consents.none'),
      el('h4', { id: 'contact-h-timeline', text: t('contacts.timeline.title') }),
      (doc.consent_history || []).length
        ? el('ol', { class: 'timeline', 'aria-labelledby': 'contact-h-timeline' }, doc.consent_history.map(event))
        : empty('contacts.timeline.none')));

    var orders = doc.orders || { total: 0, latest: [] };
    out.appendChild(section('orders', t('contacts.orders.title'),
      orders.latest.length ? el('p', { class: 'hint', text: t('contacts.shown', { shown: orders.latest.length, total: orders.total }) }) : null,
      orders.latest.length ? el('table', { class: 'stack' },
        el('caption', { class: 'visually-hidden', text: t('contacts.orders.title') }),
        el('thead', {}, el('tr', {},
          el('th', { scope: 'col', text: t('contacts.orders.placed') }),
          el('th', { scope: 'col', text: t('contacts.orders.number') }),
          el('th', { scope: 'col', text: t('contacts.orders.total') }),
          el('th', { scope: 'col', text: t('contacts.orders.items') }))),
        el('tbody', {}, orders.latest.map(function (o) {
          return el('tr', { 'data-order': o.external_id },
            el('td', { 'data-label': t('contacts.orders.placed') }, when(o.placed_at)),
            el('td', { 'data-label': t('contacts.orders.number'), text: o.external_id }),
            el('td', { 'data-label': t('contacts.orders.total'), text: money(o.total_cents, o.currency) }),
            el('td', { 'data-label': t('contacts.orders.items'), text: (o.items || []).map(function (i) {
              return (i.quantity ? i.quantity + ' × ' : '') + (i.name || i.sku || '');
            }).join(', ') }));
        }))) : empty('contacts.orders.none')));

    var answers = doc.survey_responses || { total: 0, latest: [] };
    out.appendChild(section('answers', t('contacts.answers.title'),
      answers.latest.length ? el('p', { class: 'hint', text: t('contacts.shown', { shown: answers.latest.length, total: answers.total }) }) : null,
      answers.latest.length ? el('ul', { class: 'items' }, answers.latest.map(function (a) {
        var scores = [['NPS', a.nps], ['CSAT', a.csat], ['CES', a.ces]].filter(function (s) { return s[1] != null; });
        return el('li', { class: 'item', 'data-survey': a.survey_id },
          el('div', { class: 'item-head' }, el('strong', { text: a.survey_name }), when(a.created_at)),
          scores.length ? el('ul', { class: 'meta' }, scores.map(function (s) { return el('li', { text: s[0] + ' ' + s[1] }); })) : null,
          el('dl', { class: 'answers' }, Object.keys(a.answers || {}).map(function (k) {
            var v = a.answers[k];
            return el('div', {}, el('dt', { text: k }), el('dd', { text: Array.isArray(v) ? v.join(', ') : String(v) }));
          })));
      })) : empty('contacts.answers.none')));

    var segments = doc.segments || [];
    out.appendChild(section('segments', t('contacts.segments.title'),
      segments.length ? el('ul', { class: 'items' }, segments.map(function (s) {
        return el('li', { class: 'item', 'data-segment': s.id },
          el('strong', { text: s.name }),
          el('p', { class: 'hint', text: t('contacts.segments.why') }),
          el('ul', { class: 'why' }, (s.explanation || []).map(function (line) { return el('li', { text: line }); })));
      })) : empty('contacts.segments.none')));
  }

  function lookUp(form) {
    var input = Admin.$('contacts-email');
    var button = form.querySelector('button[type=submit]');
    var out = Admin.$('contacts-result'), status = Admin.$('contacts-status');
    var email = input.value.trim();
    var invalid = function (message) {
      Admin.inputError(input, message);
      input.focus();
    };
    Admin.inputError(input, '');
    status.textContent = '';
    if (!email || email.indexOf('@') < 1) return invalid(t('contacts.lookup.invalid'));
    if (Admin.isBusy(button)) return;
    Admin.busy(button, true, t('contacts.lookup.searching'));
    Admin.clear(out);
    var session = Admin.session();
    return loadFormNames().then(function () {
      return Admin.api('GET', '/admin/v1/contacts?email=' + encodeURIComponent(email));
    }).then(function (r) {
      if (session !== Admin.session()) return;
      if (r.status === 400) return invalid(t('contacts.lookup.invalid'));
      if (r.status !== 200 || !r.json) { status.textContent = Admin.failure('contacts.what', r); return; }
      var found = (r.json.contacts || [])[0];
      if (!found) { status.textContent = t('contacts.lookup.none'); return; }
      return Admin.api('GET', '/admin/v1/contacts/' + encodeURIComponent(found.id)).then(function (d) {
        if (session !== Admin.session()) return;
        if (d.status !== 200 || !d.json) { status.textContent = Admin.failure('contacts.what', d); return; }
        status.textContent = t('contacts.lookup.found', { email: d.json.email });
        render(d.json);
      });
    }).then(function () { Admin.busy(button, false); }, function (e) { Admin.busy(button, false); throw e; });
  }

  Admin.view({
    id: 'contacts',
    title: 'contacts.title',
    scopes: ['contacts:read'],
    mount: function (root) {
      Admin.style(
        '#view-contacts .timeline{list-style:none;margin:.5rem 0 0;padding:0 0 0 1rem;border-left:3px solid var(--line)}' +
        '#view-contacts .tl-item{position:relative;padding:.5rem 0 .75rem .5rem}' +
        '#view-contacts .tl-item::before{content:"";position:absolute;left:-1.45rem;top:.95rem;width:.75rem;height:.75rem;border-radius:50%;background:var(--ok);border:2px solid var(--card)}' +
        '#view-contacts .tl-item.withdrawn::before{background:var(--danger)}' +
        '#view-contacts .tl-head{display:flex;flex-wrap:wrap;gap:.25rem .6rem;align-items:baseline;margin:0 0 .25rem}' +
        '#view-contacts .tl-notice{margin:.25rem 0 0;padding:.5rem .8rem;border-left:3px solid var(--accent);background:var(--accent-soft);border-radius:0 6px 6px 0}' +
        '#view-contacts .tl-words{margin:0 0 .25rem;white-space:pre-wrap}' +
        '#view-contacts dl.answers{margin:0}#view-contacts dl.answers>div{display:flex;gap:.5rem}' +
        '#view-contacts dl.answers dt{font-weight:600}#view-contacts dl.answers dd{margin:0;overflow-wrap:anywhere}' +
        '#view-contacts .contact-profile dd{font-size:1rem;overflow-wrap:anywhere}' +
        '#view-contacts ul.why{margin:.25rem 0 0;padding-left:1.2rem}' +
        '#view-contacts h4{font-size:1rem;margin:1rem 0 .25rem}'
      );
      root.appendChild(el('p', { class: 'intro', text: t('contacts.intro') }));
      var form = el('form', { class: 'card', id: 'contacts-lookup', noValidate: true, role: 'search', 'aria-label': t('contacts.lookup.title') },
        el('div', { class: 'field' },
          el('label', { for: 'contacts-email', text: t('contacts.lookup.label') }),
          el('div', { class: 'row' },
            el('input', { id: 'contacts-email', name: 'email', type: 'email', autocomplete: 'off', spellcheck: 'false', 'aria-describedby': 'contacts-email-hint' }),
            el('button', { type: 'submit', class: 'btn', text: t('contacts.lookup.submit') })),
          el('p', { id: 'contacts-email-hint', class: 'hint', text: t('contacts.lookup.hint') })));
      form.addEventListener('submit', function (ev) {
        ev.preventDefault();
        lookUp(form);
      });
      root.appendChild(form);
      root.appendChild(el('p', { id: 'contacts-status', role: 'status', class: 'sec-status' }));
      root.appendChild(el('div', { id: 'contacts-result' }));
    },
    load: function () {
      // Nothing to list: the marketer asks for one person. Refresh repeats the last look-up.
      var input = Admin.$('contacts-email');
      if (input && input.value.trim() && Admin.$('contacts-result').childNodes.length) {
        return lookUp(Admin.$('contacts-lookup')) || Promise.resolve();
      }
      return Promise.resolve();
    },
  });
})();
