/**
 * An Umami v2 event (`website_event` joined with its `session` and its `event_data`) → a record
 * of our importable event shape (event-record.mapper.ts validates and enriches it like any other):
 *
 * - event id: Umami's `event_id` (a re-import writes the same ids; the batch job dedupes by id);
 * - type: `event_type` 1 → pageview, 2 → custom event named `event_name`; time: `created_at`;
 * - visitor: Umami's `session_id` (its visitor: one browser on one site); session: its `visit_id`
 *   (our batch job cuts its own visits from the times anyway, contract 9);
 * - url: `https://<hostname><url_path>?<url_query>` (UTM tags come from that query string, as
 *   for live traffic); referrer: `https://<referrer_domain><referrer_path>?<referrer_query>`;
 * - session fields: browser, os and device mapped to our labels (below), country as is,
 *   screen `1920x1080` → screen_width 1920; `event_data` rows → properties.
 */

/** One Umami event with what its session and event data add. */
export interface UmamiEvent {
  eventId: string;
  createdAt: number;
  sessionId: string;
  visitId: string | null;
  urlPath: string | null;
  urlQuery: string | null;
  referrerPath: string | null;
  referrerQuery: string | null;
  referrerDomain: string | null;
  pageTitle: string | null;
  eventType: number;
  eventName: string | null;
  hostname: string | null;
  browser: string | null;
  os: string | null;
  device: string | null;
  screen: string | null;
  country: string | null;
  properties: Record<string, string> | null;
}

/** Umami's browser names (detect-browser) → ours (bowser's, what the collector's parser gives). */
const BROWSERS: Record<string, string> = {
  chrome: 'Chrome', crios: 'Chrome', 'chromium-webview': 'Chrome', firefox: 'Firefox', fxios: 'Firefox', safari: 'Safari', ios: 'Safari', 'ios-webview': 'Safari',
  edge: 'Microsoft Edge', 'edge-chromium': 'Microsoft Edge', 'edge-ios': 'Microsoft Edge', opera: 'Opera', 'opera-mini': 'Opera', samsung: 'Samsung Internet for Android',
  yandexbrowser: 'Yandex Browser', android: 'Android Browser', ie: 'Internet Explorer', silk: 'Amazon Silk', facebook: 'Facebook', instagram: 'Instagram',
};

/** Umami's OS names (detect-browser) → ours. */
export function umamiOs(os: string): string {
  if (os.startsWith('Windows')) return 'Windows';
  if (os === 'Mac OS') return 'macOS';
  if (os === 'Android OS') return 'Android';
  return os;
}

export function umamiBrowser(browser: string): string {
  return BROWSERS[browser] ?? browser;
}

/** Umami's devices: desktop, laptop, tablet, mobile (a laptop is a desktop to us). */
export function umamiDevice(device: string): string {
  if (device === 'desktop' || device === 'laptop') return 'desktop';
  if (device === 'mobile' || device === 'tablet') return device;
  return 'unknown';
}

export function umamiRecord(e: UmamiEvent, site: string): Record<string, unknown> {
  const query = e.urlQuery ? `?${e.urlQuery}` : '';
  const r: Record<string, unknown> = {
    event_id: e.eventId,
    site_id: site,
    type: e.eventType === 2 ? 'custom' : 'pageview',
    event_time: e.createdAt,
    visitor_id: e.sessionId,
    session_id: e.visitId ?? e.sessionId,
    url: `https://${e.hostname ?? ''}${e.urlPath ?? '/'}${query}`,
  };
  if (e.eventType === 2) r.name = e.eventName;
  if (e.referrerDomain) r.referrer = `https://${e.referrerDomain}${e.referrerPath ?? ''}${e.referrerQuery ? `?${e.referrerQuery}` : ''}`;
  if (e.pageTitle !== null) r.title = e.pageTitle;
  if (e.browser) r.browser = umamiBrowser(e.browser);
  if (e.os) r.os = umamiOs(e.os);
  if (e.device) r.device_type = umamiDevice(e.device);
  if (e.country) r.country = e.country.trim();
  const width = e.screen ? /^(\d{1,6})x\d+$/.exec(e.screen) : null;
  if (width) r.screen_width = Number(width[1]);
  if (e.properties && Object.keys(e.properties).length > 0) r.properties = e.properties;
  return r;
}
