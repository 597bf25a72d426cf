/*
 * Twinlane browser tracker, served by the collector at /t.js.
 *   <script defer src="https://collector.example/t.js" data-site="shop" data-key="wk_..."></script>
 *   twinlane.track('signup', { plan: 'pro' });  twinlane.purchase(19.99, 'EUR', { sku: 'A1' });
 * Records page views (including single-page-app navigation through the History API) and custom
 * events, and sends them in batches as text/plain, which needs no CORS preflight. No cookies: the
 * collector derives a daily visitor id from a salted hash; the session id lives in sessionStorage.
 *
 * Delivery: every event gets its id here, when it happens, and keeps it through every retry (the
 * batch layer dedupes by id). Events wait in a bounded queue kept in sessionStorage until the
 * collector has answered for them; batches go by fetch (keepalive) so the answer can be read:
 * 429, 5xx and network errors keep the batch and back off (Retry-After when the collector exposes
 * it), and what is still queued when the page is left goes again on the next page load of the tab.
 * When nothing is waiting for a retry, leaving the page sends the queue by sendBeacon, the one
 * request a browser reliably finishes after the page is gone.
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
  var MAX_BATCH = 20; // keeps a beacon, and a keepalive fetch, far below the browsers' 64 KB limit
  var MAX_QUEUE = 500; // about 200 KB of sessionStorage at most; beyond it the oldest events go
  var MAX_ATTEMPTS = 10; // per batch, across page loads: a collector that refuses for good (CORS) must not pin the queue
  var BASE_DELAY_MS = 2000; // the collector's own Retry-After, for when CORS hides the header
  var MAX_DELAY_MS = 60000;
  var MAX_RETRY_AFTER_MS = 300000;
  var FLUSH_MS = Number(script.getAttribute('data-flush-ms')) || 1000;
  var KEYS = { queue: 'twinlane.queue', retry: 'twinlane.retry', dropped: 'twinlane.dropped', session: 'twinlane.session' };
  var memory = {}; // used when sessionStorage is unavailable (disabled, full)
  var storageOk = true;
  var timer = null;
  var inFlight = null; // ids of the batch being sent by fetch
  var lastPage = null;
  var lastUrl = null;

  function load(name, fallback) {
    var text = null;
    if (storageOk) {
      try {
        text = sessionStorage.getItem(name);
      } catch (e) {
        storageOk = false;
      }
    }
    if (!storageOk) return name in memory ? memory[name] : fallback;
    if (text === null) return fallback;
    try {
      return JSON.parse(text);
    } catch (e) {
      return fallback; // written by an older tracker, or by hand
    }
  }

  function save(name, value) {
    memory[name] = value;
    if (!storageOk) return;
    try {
      sessionStorage.setItem(name, JSON.stringify(value));
    } catch (e) {
      storageOk = false; // quota or privacy mode: keep going in memory for this page
    }
  }

  // The tab's queue survives navigation: what a previous page could not deliver is sent from this one.
  var queue = load(KEYS.queue, []);
  var retry = load(KEYS.retry, { attempts: 0, at: 0 });
  var dropped = load(KEYS.dropped, 0);
  if (!Array.isArray(queue)) queue = [];

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
    // Stored raw (not JSON), as earlier versions of the tracker did, so a tab keeps its session across an upgrade.
    try {
      var s = sessionStorage.getItem(KEYS.session);
      if (!s) sessionStorage.setItem(KEYS.session, (s = uuid()));
      return s;
    } catch (e) {
      return memory[KEYS.session] || (memory[KEYS.session] = uuid());
    }
  }

  function event(type, name) {
    var e = { id: uuid(), type: type, ts: Date.now(), session: session(), url: location.href, title: document.title || null, screen_width: window.innerWidth };
    if (name) e.name = name;
    return e;
  }

  function schedule(ms) {
    if (timer) clearTimeout(timer);
    timer = setTimeout(flush, Math.max(0, ms));
  }

  function setRetry(r) {
    retry = r;
    save(KEYS.retry, r);
  }

  function remove(ids) {
    queue = queue.filter(function (e) { return ids.indexOf(e.id) < 0; });
    save(KEYS.queue, queue);
  }

  /** Retry-After as ms: delay-seconds or an HTTP date; undefined when absent or not exposed by CORS. */
  function retryAfterMs(res) {
    var v = res && res.headers && res.headers.get('retry-after');
    if (!v) return undefined;
    if (/^\s*\d+\s*$/.test(v)) return Number(v) * 1000;
    var at = Date.parse(v);
    return isNaN(at) ? undefined : Math.max(0, at - Date.now());
  }

  /** The batch stays queued; the next try waits for Retry-After, else an exponential, jittered back-off. */
  function backOff(batch, res) {
    var attempts = retry.attempts + 1;
    if (attempts >= MAX_ATTEMPTS) {
      remove(batch.map(function (e) { return e.id; }));
      save(KEYS.dropped, (dropped += batch.length));
      setRetry({ attempts: 0, at: 0 });
      if (queue.length) schedule(FLUSH_MS);
      return;
    }
    var told = retryAfterMs(res);
    var ceiling = Math.min(MAX_DELAY_MS, BASE_DELAY_MS * Math.pow(2, attempts - 1));
    var delay = told === undefined ? ceiling / 2 + (Math.random() * ceiling) / 2 : Math.min(told, MAX_RETRY_AFTER_MS);
    setRetry({ attempts: attempts, at: Date.now() + delay });
    schedule(delay);
  }

  function flush() {
    clearTimeout(timer);
    timer = null;
    if (inFlight || !queue.length) return;
    var wait = retry.at - Date.now();
    if (wait > 0) return schedule(wait);
    var batch = queue.slice(0, MAX_BATCH);
    var body = JSON.stringify(batch);
    if (!window.fetch) {
      // No fetch: the beacon is all there is, and its answer cannot be read.
      if (navigator.sendBeacon && navigator.sendBeacon(endpoint, new Blob([body], { type: 'text/plain' }))) remove(batch.map(function (e) { return e.id; }));
      return;
    }
    inFlight = batch.map(function (e) { return e.id; });
    fetch(endpoint, { method: 'POST', body: body, keepalive: true, credentials: 'omit', headers: { 'content-type': 'text/plain' } }).then(
      function (res) {
        var ids = inFlight;
        inFlight = null;
        if (res.status === 429 || res.status >= 500) return backOff(batch, res);
        // 2xx, or a 4xx that sending the same bytes again cannot change (refused event, key, origin).
        remove(ids);
        setRetry({ attempts: 0, at: 0 });
        if (queue.length >= MAX_BATCH) schedule(0);
        else if (queue.length) schedule(FLUSH_MS);
      },
      function () {
        // Network error or CORS failure: the request may have landed; the same ids go again.
        inFlight = null;
        backOff(batch, null);
      }
    );
  }

  /**
   * Leaving or hiding the page. With nothing waiting for a retry, the queue goes by sendBeacon
   * (its answer cannot be read, so it is taken as delivered). With a backlog, the collector was
   * failing: the events stay in sessionStorage and the next page load of this tab sends them.
   */
  function leave() {
    if (retry.attempts > 0 || !navigator.sendBeacon) return;
    clearTimeout(timer);
    timer = null;
    var pending = queue.filter(function (e) { return !inFlight || inFlight.indexOf(e.id) < 0; });
    while (pending.length) {
      var batch = pending.splice(0, MAX_BATCH);
      if (!navigator.sendBeacon(endpoint, new Blob([JSON.stringify(batch)], { type: 'text/plain' }))) break; // over the beacon quota: keep the rest
      remove(batch.map(function (e) { return e.id; }));
    }
  }

  function enqueue(e) {
    queue.push(e);
    var before = dropped;
    // Oldest first (the batch in flight excepted): while the collector is down, the latest events are the ones worth keeping.
    for (var i = 0; queue.length > MAX_QUEUE && i < queue.length; ) {
      if (inFlight && inFlight.indexOf(queue[i].id) >= 0) i++;
      else {
        queue.splice(i, 1);
        dropped++;
      }
    }
    if (dropped !== before) save(KEYS.dropped, dropped);
    save(KEYS.queue, queue);
    if (queue.length >= MAX_BATCH) flush();
    else if (!timer) schedule(FLUSH_MS);
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
    /** queued: events not yet delivered; dropped: events pushed out of the full queue or given up after MAX_ATTEMPTS (this tab). */
    stats: function () {
      return { queued: queue.length, dropped: dropped, attempts: retry.attempts };
    },
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
  document.addEventListener('visibilitychange', function () { if (document.visibilityState === 'hidden') leave(); });
  window.addEventListener('pagehide', leave);

  // A backlog from an earlier page of this tab: retry it now, or when Retry-After said.
  if (queue.length) schedule(retry.at - Date.now());

  // Calls made before the script loaded: window.twinlane = window.twinlane || { q: [] }; twinlane.q.push(['track', 'x'])
  var early = window.twinlane && window.twinlane.q;
  window.twinlane = api;
  if (script.getAttribute('data-auto') !== 'false') pageview();
  if (early && early.forEach) early.forEach(function (call) { if (api[call[0]]) api[call[0]].apply(null, call.slice(1)); });
})();
