// The runtime the hosted pages share (the preference center and the survey page): their language
// and strings, text-only DOM helpers and JSON calls to this API. The server inlines it into each
// page ahead of the page's own script, next to `<script type="application/json" id="page-strings">`
// holding {"locale": tag, "strings": {...}} from src/domain/i18n/<tag>.json, so the page never
// carries a string table of its own and speaks exactly the language the server negotiated.
var Page = (function () {
  'use strict';

  var injected = null;
  try { injected = JSON.parse(document.getElementById('page-strings').textContent); } catch (e) { injected = null; }
  var T = injected && injected.strings && typeof injected.strings === 'object' ? injected.strings : {};
  var lang = injected && typeof injected.locale === 'string' ? injected.locale : 'en';
  if (document.documentElement.getAttribute('lang') !== lang) document.documentElement.setAttribute('lang', lang);

  var plural = null;
  // Portugal's rules, because Brazil's make 0 singular ("Resta 0 caractere") where people say "Restam 0 caracteres".
  try { plural = new Intl.PluralRules(lang === 'pt-BR' ? 'pt-PT' : lang); } catch (e) { plural = null; }

  function has(key) { return T[key] != null; }
  // `{name}` is replaced with `vars.name`; `vars.count` (a number) picks a plural form such as
  // `key_one` when the language has one.
  function t(key, vars) {
    if (vars && typeof vars.count === 'number' && plural && T[key + '_' + plural.select(vars.count)] != null) {
      key = key + '_' + plural.select(vars.count);
    }
    var s = T[key] != null ? T[key] : key;
    if (vars) s = s.replace(/\{(\w+)\}/g, function (m, k) { return vars[k] != null ? String(vars[k]) : m; });
    return s;
  }
  // Every element with a data-t attribute shows the string its value names.
  function applyTexts() {
    document.querySelectorAll('[data-t]').forEach(function (n) { n.textContent = t(n.getAttribute('data-t')); });
  }

  // ---- DOM helpers (text only: nothing from the server ever becomes markup) --------------------
  function $(id) { return document.getElementById(id); }
  function el(tag, attrs, children) {
    var e = document.createElement(tag);
    if (attrs) Object.keys(attrs).forEach(function (k) {
      var v = attrs[k];
      if (v == null || v === false) return;
      if (k === 'text') e.textContent = v;
      else if (k === 'className') e.className = v;
      else e.setAttribute(k, v === true ? '' : String(v));
    });
    (children || []).forEach(function (c) { if (c != null) e.appendChild(typeof c === 'string' ? document.createTextNode(c) : c); });
    return e;
  }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }
  function show(node, on) { node.hidden = !on; }

  // ---- JSON calls ------------------------------------------------------------------------------
  // A response as {status, json, res}; json is null when the body is empty or not JSON.
  function readResponse(res) {
    return res.text().then(function (text) {
      var json = null;
      try { json = text ? JSON.parse(text) : null; } catch (e) { /* not JSON */ }
      return { status: res.status, json: json, res: res };
    });
  }
  // Resolves to readResponse's answer, or {status: 0} when the server was not reached. Never
  // sends cookies or uses the cache.
  function request(method, path, headers, body) {
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    return fetch(path, {
      method: method, headers: headers, credentials: 'omit', cache: 'no-store',
      body: body === undefined ? undefined : JSON.stringify(body)
    }).then(readResponse, function () { return { status: 0, json: null, res: null }; });
  }
  // Whole minutes to wait after a 429, from its Retry-After (a minute when absent).
  function retryMinutes(r) {
    var secs = Number(r.res && r.res.headers.get('Retry-After'));
    return Math.max(1, Math.ceil((isFinite(secs) && secs > 0 ? secs : 60) / 60));
  }

  return {
    lang: lang, t: t, has: has, applyTexts: applyTexts,
    $: $, el: el, clear: clear, show: show,
    readResponse: readResponse, request: request, retryMinutes: retryMinutes
  };
})();
