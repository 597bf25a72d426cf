/*
 * Twinlane browser tracker, served by the collector at /t.js.
 *   <script defer src="https://collector.example/t.js" data-site="shop" data-key="wk_..."></script>
 *   twinlane.track('signup', { plan: 'pro' });  twinlane.purchase(19.99, 'EUR', { sku: 'A1' });
 * Records page views (including single-page-app navigation through the History API) and custom
 * events, batches them, and sends them with navigator.sendBeacon (fallback: fetch keepalive) as
 * text/plain, which needs no CORS preflight. No cookies: the collector derives a daily visitor
 * id from a salted hash; the session id lives in sessionStorage (per tab).
 */
(function () {
  'use strict';
  var script = document.currentScript;
  if (!script || window.__twinlaneLoaded) return;
  window.__twinlaneLoaded = true;
  var site = script.getAttribute('data-site') || '';
  var key = script.getAttribute('data-key') || '';
  var origin = script.getAttribute('data-endpoint') || new URL(script.src, location.href).origin;
  var endpoint = origin + '/v1/collect?site=' + encodeURIComponent(site) + '&key=' + encodeURIComponent(key);
  var MAX_BATCH = 20; // keeps a beacon far below the browsers' 64 KB limit
  var FLUSH_MS = Number(script.getAttribute('data-flush-ms')) || 1000;
  var queue = [];
  var timer = null;
  var memorySession = null;
  var lastPage = null;
  var lastUrl = null;

  function uuid() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    var b = new Uint8Array(16);
    crypto.getRandomValues(b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.prototype.map.call(b, function (x) { return (x + 0x100).toString(16).slice(1); }).join('');
    return h.slice(0, 8) + '-' + h.slice(8, 12) + '-' + h.slice(12, 16) + '-' + h.slice(16, 20) + '-' + h.slice(20);
  }

  function session() {
    try {
      var s = sessionStorage.getItem('twinlane.session');
      if (!s) sessionStorage.setItem('twinlane.session', (s = uuid()));
      return s;
    } catch (e) {
      return memorySession || (memorySession = uuid());
    }
  }

  function event(type, name) {
    var e = { id: uuid(), type: type, ts: Date.now(), session: session(), url: location.href, title: document.title || null, screen_width: window.innerWidth };
    if (name) e.name = name;
    return e;
  }

  function send(body) {
    try {
      if (navigator.sendBeacon && navigator.sendBeacon(endpoint, new Blob([body], { type: 'text/plain' }))) return;
    } catch (e) { /* fall through to fetch */ }
    if (window.fetch) {
      fetch(endpoint, { method: 'POST', body: body, keepalive: true, credentials: 'omit', headers: { 'content-type': 'text/plain' } }).catch(function () {});
    }
  }

  function flush() {
    clearTimeout(timer);
    timer = null;
    while (queue.length) send(JSON.stringify(queue.splice(0, MAX_BATCH)));
  }

  function enqueue(e) {
    queue.push(e);
    if (queue.length >= MAX_BATCH) flush();
    else if (!timer) timer = setTimeout(flush, FLUSH_MS);
  }

  function pageview() {
    var page = location.pathname + location.search;
    if (page === lastPage) return; // replaceState with the same URL, or a hash change
    var e = event('pageview');
    e.referrer = lastUrl || document.referrer || null;
    lastPage = page;
    lastUrl = location.href;
    enqueue(e);
  }

  function cleanProps(props) {
    var out = {};
    for (var k in props || {}) {
      var v = props[k];
      if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') out[k] = v;
    }
    return out;
  }

  var api = {
    pageview: pageview,
    track: function (name, props) {
      var e = event('custom', String(name));
      e.props = cleanProps(props);
      enqueue(e);
    },
    purchase: function (amount, currency, props) {
      var e = event('purchase');
      e.revenue = Number(amount);
      e.currency = String(currency || '').toUpperCase();
      e.props = cleanProps(props);
      enqueue(e);
    },
    flush: flush,
  };

  // Single-page apps: a navigation through the History API is a page view.
  ['pushState', 'replaceState'].forEach(function (method) {
    var original = history[method];
    history[method] = function () {
      var result = original.apply(this, arguments);
      setTimeout(pageview, 0);
      return result;
    };
  });
  window.addEventListener('popstate', function () { setTimeout(pageview, 0); });
  // Leaving or hiding the page: send what is queued while the page can still send.
  document.addEventListener('visibilitychange', function () { if (document.visibilityState === 'hidden') flush(); });
  window.addEventListener('pagehide', flush);

  // Calls made before the script loaded: window.twinlane = window.twinlane || { q: [] }; twinlane.q.push(['track', 'x'])
  var early = window.twinlane && window.twinlane.q;
  window.twinlane = api;
  if (script.getAttribute('data-auto') !== 'false') pageview();
  if (early && early.forEach) early.forEach(function (call) { if (api[call[0]]) api[call[0]].apply(null, call.slice(1)); });
})();
