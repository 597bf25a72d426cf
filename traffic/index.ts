/** Public surface of traffic/: seeded synthetic traffic, its collector payloads, and the HTTP load generator (tests, benchmarks, `make pipeline`). */
export { generateTraffic, rng, zipf, pagePath, COUNTRIES, DEVICES, type TrafficOptions } from './traffic.generator.ts';
export { toCollectorJson, clientContext, MALFORMATIONS, USER_AGENTS, COUNTRY_IPS, type Malformation } from './traffic.payload.ts';
export { LoadGenerator, runLoad, type LoadOptions, type LoadSummary, type LoadSite } from './load.generator.ts';
