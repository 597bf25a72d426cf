/**
 * A Node.js web server reporting page views and purchases with the Twinlane SDK.
 *
 *   make stack-up && node --import tsx bin/twinlane.ts ingest collector &
 *   node --import tsx sdk/examples/server.example.ts            # then open http://127.0.0.1:3000/
 *
 * The end user's user agent and address go with each event, so the collector attributes device,
 * browser and country to the visitor, not to this server (the address is honoured when the
 * collector trusts this host: COLLECTOR_TRUST_PROXY, loopback by default).
 */
import { createServer } from 'node:http';
import { TwinlaneClient, type TwinlaneSdkError } from '../index.ts';

const analytics = new TwinlaneClient({
  endpoint: 'http://127.0.0.1:8080',
  site: 'shop',
  writeKey: 'wk_shop_3f9a1c7e5b2d4e68', // config/sites.json; in production, from your secret store
  onError: (err: TwinlaneSdkError) => console.warn(`analytics: ${err.code} (${err.events.length} events): ${err.message}`),
});
analytics.start();

const server = createServer((req, res) => {
  const url = `https://shop.example${req.url ?? '/'}`;
  const context = { url, visitor: req.headers['x-user-id']?.toString(), userAgent: req.headers['user-agent'] ?? '', ip: req.socket.remoteAddress };
  if (req.method === 'POST' && req.url === '/checkout') {
    const eventId = analytics.purchase(49.9, 'EUR', { ...context, props: { sku: 'A1', quantity: 2 } });
    res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ eventId }));
    return;
  }
  analytics.pageview({ ...context, title: 'Shop', referrer: req.headers.referer ?? null });
  res.writeHead(200, { 'content-type': 'text/html' }).end('<form method="post" action="/checkout"><button>Buy</button></form>');
});
server.listen(3000, '127.0.0.1', () => console.info('listening on http://127.0.0.1:3000/'));

// On shutdown: stop taking requests, then let the SDK send what it holds (retrying up to shutdownTimeoutMs).
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    server.close();
    void analytics.stop().then(() => {
      console.info(`analytics: ${JSON.stringify(analytics.stats())}`);
      process.exit(0);
    });
  });
}
