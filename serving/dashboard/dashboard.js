// Twinlane dashboard: reads the serving API with the site's read key (from #key=...) and
// draws it with chart.js. Batch buckets are blue, speed buckets orange, the watermark W is a
// dashed line, and buckets no store covers are shaded grey (never drawn as zero).
// `window.twinlane` exposes the charts and the API answers, for the browser test.
(() => {
  'use strict';
  const site = decodeURIComponent(location.pathname.split('/')[2] || '');
  const storageKey = `twinlane-key:${site}`;
  const fromHash = new URLSearchParams(location.hash.slice(1)).get('key');
  if (fromHash) {
    sessionStorage.setItem(storageKey, fromHash);
    history.replaceState(null, '', location.pathname + location.search);
  }
  let key = sessionStorage.getItem(storageKey);
  const refreshMs = Number(document.body.dataset.refreshMs) || 5000;
  const state = { site, charts: {}, responses: {}, loads: 0, realtimeUpdates: 0, errors: [] };
  window.twinlane = state;

  const $ = (id) => document.getElementById(id);
  const COLORS = { batch: '#2563eb', speed: '#f97316', both: '#9333ea', previous: '#98a2b3', bar: '#6366f1' };
  const LABELS = { conversions: 'Conversions', conversion_rate: 'Conversion rate', pageviews: 'Page views', visitors: 'Visitors', sessions: 'Sessions', bounce_rate: 'Bounce rate', visit_duration: 'Visit duration', revenue: 'Revenue', events: 'Events', purchases: 'Purchases' };

  async function api(path, body) {
    const res = await fetch(path, {
      method: body ? 'POST' : 'GET',
      headers: { authorization: `Bearer ${key}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const json = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error((json.error && json.error.message) || `${res.status} ${res.statusText}`);
    return json;
  }

  function selection() {
    const period = $('period').value;
    const date_range = period === 'custom' ? [$('from').value, $('to').value] : period;
    const filters = [];
    const country = $('f-country').value.trim();
    const device = $('f-device').value;
    const page = $('f-page').value.trim();
    if (country) filters.push(['is', 'country', [country.toUpperCase()]]);
    if (device) filters.push(['is', 'device', [device]]);
    if (page) filters.push(['is', 'page', [page]]);
    // The filter builder: an operator, a dimension and several values (ORed).
    const values = $('f-values').value.split(',').map((v) => v.trim()).filter(Boolean);
    if (values.length) filters.push([$('f-op').value, $('f-dim').value, values]);
    const mode = $('compare').value;
    const comparisons = mode === 'custom' ? { mode, date_range: [$('compare-from').value, $('compare-to').value] } : mode ? { mode } : null;
    return { date_range, filters, segment: $('segment').value, comparisons, grain: $('grain').value, metric: $('metric').value };
  }

  function query(sel, extra) {
    const { include, ...rest } = extra || {};
    const withCompare = include && include.comparisons ? (sel.comparisons ? { include: { ...include, comparisons: sel.comparisons } } : {}) : include ? { include } : {};
    return api('/api/v2/query', { site_id: site, date_range: sel.date_range, filters: sel.filters, ...(sel.segment ? { segment: sel.segment } : {}), ...rest, ...withCompare });
  }

  // Rows of a table body from arrays of cells (text only: values come from the API).
  function fillTable(id, rows) {
    const body = $(id).querySelector('tbody');
    body.textContent = '';
    for (const cells of rows) {
      const tr = document.createElement('tr');
      cells.forEach((c, i) => {
        const td = document.createElement('td');
        td.textContent = c;
        if (i > 0 && i === cells.length - 1) td.className = 'num';
        tr.appendChild(td);
      });
      body.appendChild(tr);
    }
  }

  // Goals: conversions over the range (both sides of W), rates over batch days only.
  function renderGoals(conv, rates) {
    state.responses.goalRates = rates;
    const rateOf = new Map(rates ? rates.results.map((r) => [r.dimensions[0], r.metrics[0]]) : []);
    fillTable('goals', conv.results.map((r) => [r.dimensions[0], fmtValue('pageviews', r.metrics[0]), rateOf.has(r.dimensions[0]) ? fmtValue('bounce_rate', rateOf.get(r.dimensions[0])) : '–']));
  }

  // The API names each bucket by its start in the site's local time (2026-03-08T00:00:00-05:00,
  // or ...Z for a UTC site): the label is that wall time as written, never the browser's zone.
  function fmtTime(iso, grain) {
    const day = iso.slice(5, 10);
    if (grain === 'month') return iso.slice(0, 7);
    if (grain === 'week') return `week of ${day}`;
    return grain === 'day' ? day : `${day} ${iso.slice(11, 16)}`;
  }

  // An instant (the API's UTC ISO) as the site's local date and time.
  function fmtLocal(iso, zone) {
    const parts = {};
    for (const p of new Intl.DateTimeFormat('en-CA', { timeZone: zone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit' }).formatToParts(new Date(iso))) parts[p.type] = p.value;
    return `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute}`;
  }

  function fmtValue(metric, v) {
    if (v === null || v === undefined) return '–';
    if (metric === 'bounce_rate') return `${(v * 100).toFixed(1)}%`;
    if (metric === 'visit_duration') return `${Math.round(v)}s`;
    if (metric === 'revenue') return v.toLocaleString('en', { maximumFractionDigits: 2 });
    return v.toLocaleString('en');
  }

  // Draws the W line and shades missing buckets, from options.plugins.twinlane.
  const boundaryPlugin = {
    id: 'twinlane',
    beforeDatasetsDraw(chart, _args, opts) {
      const { ctx, chartArea, scales } = chart;
      if (!opts || !scales.x) return;
      const half = (scales.x.getPixelForValue(1) - scales.x.getPixelForValue(0)) / 2 || 4;
      ctx.save();
      ctx.fillStyle = 'rgba(152,162,179,0.25)';
      for (const i of opts.missing || []) {
        const x = scales.x.getPixelForValue(i);
        ctx.fillRect(x - half, chartArea.top, half * 2, chartArea.bottom - chartArea.top);
      }
      if (opts.boundaryIndex !== null && opts.boundaryIndex !== undefined) {
        const x = scales.x.getPixelForValue(opts.boundaryIndex) - half;
        ctx.strokeStyle = '#111827';
        ctx.setLineDash([6, 4]);
        ctx.beginPath();
        ctx.moveTo(x, chartArea.top);
        ctx.lineTo(x, chartArea.bottom);
        ctx.stroke();
        ctx.setLineDash([]);
        ctx.fillStyle = '#111827';
        ctx.fillText('W  batch ← | → speed', x + 4, chartArea.top + 12);
      }
      ctx.restore();
    },
  };

  function chart(id, config) {
    if (state.charts[id]) state.charts[id].destroy();
    state.charts[id] = new Chart($(`${id}-chart`), config);
    return state.charts[id];
  }

  function renderSeries(res, metric) {
    const rows = res.results;
    const grain = res.query.grain;
    const labels = rows.map((r) => fmtTime(r.dimensions[0], grain));
    const pick = (source) => rows.map((r) => (r.source === source ? r.metrics[0] : null));
    const w = res.meta.watermark ? Date.parse(res.meta.watermark) : null;
    const wIndex = w === null ? -1 : rows.findIndex((r) => Date.parse(r.dimensions[0]) >= w);
    const datasets = [
      { label: `${LABELS[metric]} · batch (exact)`, data: pick('batch'), borderColor: COLORS.batch, backgroundColor: COLORS.batch, spanGaps: false, pointRadius: 0, tension: 0.2 },
      { label: `${LABELS[metric]} · speed`, data: pick('speed'), borderColor: COLORS.speed, backgroundColor: COLORS.speed, spanGaps: false, pointRadius: 0, tension: 0.2 },
    ];
    // A week or month holding W: both sides merged.
    if (rows.some((r) => r.source === 'batch+speed')) datasets.push({ label: `${LABELS[metric]} · batch + speed`, data: pick('batch+speed'), borderColor: COLORS.both, backgroundColor: COLORS.both, pointRadius: 4, spanGaps: false });
    if (res.comparison) {
      datasets.push({ label: res.comparison.mode === 'year_over_year' ? 'a year before' : res.comparison.mode === 'custom' ? 'compared range' : 'previous period', data: res.comparison.results.map((r) => r.metrics[0]), borderColor: COLORS.previous, borderDash: [4, 4], pointRadius: 0, spanGaps: false });
    }
    const missing = rows.map((r, i) => (r.status === 'missing' ? i : -1)).filter((i) => i >= 0);
    chart('series', {
      type: 'line',
      data: { labels, datasets },
      options: {
        animation: false,
        maintainAspectRatio: false,
        interaction: { mode: 'index', intersect: false },
        scales: { y: { beginAtZero: true } },
        plugins: { twinlane: { boundaryIndex: wIndex > 0 ? wIndex : null, missing } },
      },
      plugins: [boundaryPlugin],
    });
    const m = res.meta;
    const zone = res.query.timezone || 'UTC';
    $('timezone').textContent = zone;
    $('series-meta').textContent = `times in ${zone} · W = ${m.watermark ? fmtLocal(m.watermark, zone) : 'none yet'} · batch ${m.batch_version || '–'}` +
      (m.complete ? ' · complete' : ` · ${m.missing_buckets} missing, ${m.partial_buckets} partial`);
  }

  function renderBars(id, res, label) {
    chart(id, {
      type: 'bar',
      data: { labels: res.results.map((r) => r.dimensions[0]), datasets: [{ label, data: res.results.map((r) => r.metrics[0]), backgroundColor: COLORS.bar }] },
      options: { indexAxis: 'y', animation: false, maintainAspectRatio: false, plugins: { legend: { display: false } } },
    });
  }

  function renderFunnel(res) {
    chart('funnel', {
      type: 'bar',
      data: { labels: res.steps.map((s) => s.step), datasets: [{ label: 'Visitors', data: res.steps.map((s) => s.visitors), backgroundColor: COLORS.batch }] },
      options: { indexAxis: 'y', animation: false, maintainAspectRatio: false, plugins: { legend: { display: false } } },
    });
    const last = res.steps[res.steps.length - 1];
    const zone = $('timezone').textContent || 'UTC';
    $('funnel-meta').textContent = res.meta.covered_range
      ? `batch days ${fmtLocal(res.meta.covered_range[0], zone).slice(0, 10)} → ${fmtLocal(res.meta.covered_range[1], zone).slice(0, 10)} · conversion ${last.conversion_rate === null ? '–' : (last.conversion_rate * 100).toFixed(1) + '%'}`
      : 'no batch-covered days in this range';
  }

  function renderTotals(res) {
    $('timezone').textContent = res.query.timezone || 'UTC';
    const box = $('totals');
    box.textContent = '';
    res.query.metrics.forEach((metric, i) => {
      const v = res.results[0].metrics[i];
      const prev = res.comparison ? res.comparison.results[0].metrics[i] : null;
      const card = document.createElement('div');
      card.className = 'card';
      card.dataset.metric = metric;
      const change = v !== null && prev ? ((v - prev) / prev) * 100 : null;
      card.innerHTML = '<div class="label"></div><div class="value"></div><div class="change"></div>';
      card.querySelector('.label').textContent = LABELS[metric];
      // Revenue is one currency's (the site's reporting currency): its code beside the number, and
      // the purchases in other currencies it leaves out.
      const rev = metric === 'revenue' && res.meta.revenue ? res.meta.revenue : null;
      card.querySelector('.value').textContent = fmtValue(metric, v) + (rev && rev.currency ? ` ${rev.currency}` : '');
      if (rev && rev.other_currency_purchases) card.title = `${rev.other_currency_purchases.toLocaleString('en')} purchases in other currencies are not included`;
      const ch = card.querySelector('.change');
      ch.textContent = change === null ? '' : `${change >= 0 ? '▲' : '▼'} ${Math.abs(change).toFixed(1)}% vs ${res.comparison.mode === 'year_over_year' ? 'a year before' : res.comparison.mode === 'custom' ? 'compared range' : 'previous'}`;
      ch.classList.add(change >= 0 ? 'up' : 'down');
      box.appendChild(card);
    });
  }

  async function loadAll() {
    const sel = selection();
    $('status').textContent = 'Loading…';
    const time = sel.grain ? `time:${sel.grain}` : 'time';
    const top = (dimension, metric) => query(sel, { metrics: [metric], dimensions: [dimension], pagination: { limit: 10 } });
    const steps = encodeURIComponent($('funnel-steps').value);
    const range = Array.isArray(sel.date_range) ? `from=${sel.date_range[0]}&to=${sel.date_range[1]}` : `period=${sel.date_range}`;
    const jobs = {
      totals: query(sel, { metrics: ['visitors', 'pageviews', 'sessions', 'bounce_rate', 'visit_duration', 'revenue'], include: { comparisons: { mode: 'previous_period' } } }),
      series: query(sel, { metrics: [sel.metric], dimensions: [time], include: { comparisons: { mode: 'previous_period' } } }),
      page: top('page', 'pageviews'),
      referrer: top('referrer', 'pageviews'),
      country: top('country', 'visitors'),
      device: top('device', 'visitors'),
      // Channels and UTM tags by page views: the speed store keeps no visitors per channel or tag.
      acquisition: top($('acquisition-dim').value, 'pageviews'),
      // A listed custom property's values (the sites file's properties); none listed: no panel query.
      ...($('property-key').value ? { property: top(`event:props:${$('property-key').value}`, $('property-metric').value) } : {}),
      funnel: api(`/v1/sites/${encodeURIComponent(site)}/funnel?steps=${steps}&${range}`),
      goals: query(sel, { metrics: ['conversions'], dimensions: ['event:goal'], pagination: { limit: 20 } }),
      goalRates: query(sel, { metrics: ['conversion_rate'], dimensions: ['event:goal'], pagination: { limit: 20 }, source: 'batch' }),
      twoDim: query(sel, { metrics: ['pageviews'], dimensions: ['country', 'device'], pagination: { limit: 10 } }),
    };
    const names = Object.keys(jobs);
    const settled = await Promise.allSettled(Object.values(jobs));
    const errors = [];
    settled.forEach((r, i) => {
      const name = names[i];
      if (r.status === 'rejected') {
        errors.push(`${name}: ${r.reason.message}`);
        // An unanswered panel is emptied, never left showing the previous selection's numbers.
        if (state.charts[name]) { state.charts[name].destroy(); delete state.charts[name]; }
        if (name === 'totals') $('totals').textContent = '';
        if (name === 'goals') fillTable('goals', []);
        if (name === 'twoDim') fillTable('two-dim', []);
        delete state.responses[name];
        return;
      }
      state.responses[name] = r.value;
      if (name === 'totals') renderTotals(r.value);
      else if (name === 'series') renderSeries(r.value, sel.metric);
      else if (name === 'funnel') renderFunnel(r.value);
      else if (name === 'goals') renderGoals(r.value, settled[names.indexOf('goalRates')].status === 'fulfilled' ? settled[names.indexOf('goalRates')].value : null);
      else if (name === 'goalRates') return;
      else if (name === 'twoDim') fillTable('two-dim', r.value.results.map((x) => [...x.dimensions, fmtValue('pageviews', x.metrics[0])]));
      else if (name === 'property') renderBars(name, r.value, $('property-metric').value === 'events' ? 'Custom events' : 'Page views');
      else renderBars(name, r.value, name === 'page' || name === 'referrer' || name === 'acquisition' ? 'Page views' : 'Visitors');
    });
    state.errors = errors;
    $('status').textContent = errors.join(' · ');
    state.loads++;
  }

  async function refreshRealtime() {
    try {
      const rt = await api(`/v1/sites/${encodeURIComponent(site)}/realtime`);
      state.responses.realtime = rt;
      $('active-visitors').textContent = rt.active_visitors === null ? '–' : rt.active_visitors.toLocaleString('en');
      $('pageviews-30m').textContent = rt.pageviews_30m === null ? '' : `· ${rt.pageviews_30m.toLocaleString('en')} page views in 30 min`;
      state.realtimeUpdates++;
    } catch (err) {
      $('active-visitors').textContent = '–';
      state.errors.push(`realtime: ${err.message}`);
    }
  }

  function start() {
    $('site-name').textContent = site;
    $('period').addEventListener('change', () => $('controls').classList.toggle('custom-range', $('period').value === 'custom'));
    $('compare').addEventListener('change', () => $('controls').classList.toggle('compare-range', $('compare').value === 'custom'));
    // Saved segments of the site, for the segment picker.
    api(`/v1/sites/${encodeURIComponent(site)}/segments`).then((res) => {
      state.responses.segments = res;
      for (const g of res.segments) {
        const o = document.createElement('option');
        o.value = g.name;
        o.textContent = g.name;
        $('segment').appendChild(o);
      }
    }).catch((err) => state.errors.push(`segments: ${err.message}`));
    $('acquisition-dim').addEventListener('change', () => loadAll());
    // The site's listed custom properties: the property panel's keys, and the filter builder's dimensions.
    api(`/v1/sites/${encodeURIComponent(site)}/properties`).then((res) => {
      state.responses.properties = res;
      if (res.properties.length) $('property-key').textContent = '';
      for (const key of res.properties) {
        const o = document.createElement('option');
        o.value = key;
        o.textContent = key;
        $('property-key').appendChild(o);
        const f = document.createElement('option');
        f.value = `event:props:${key}`;
        f.textContent = `property ${key}`;
        $('f-dim').appendChild(f);
      }
      if (res.properties.length) loadAll();
    }).catch((err) => state.errors.push(`properties: ${err.message}`));
    $('property-key').addEventListener('change', () => loadAll());
    $('property-metric').addEventListener('change', () => loadAll());
    $('controls').addEventListener('submit', (e) => {
      e.preventDefault();
      loadAll();
    });
    loadAll();
    refreshRealtime();
    setInterval(refreshRealtime, refreshMs);
  }

  if (key) start();
  else {
    $('key-form').hidden = false;
    $('key-form').addEventListener('submit', (e) => {
      e.preventDefault();
      key = $('key-input').value;
      sessionStorage.setItem(storageKey, key);
      $('key-form').hidden = true;
      start();
    });
  }
})();
