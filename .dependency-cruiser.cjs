/**
 * The layers of the Lambda picture, checked by `make test` (`npm run lint:deps`).
 * Bottom to top: core → schemas → dlq → ingest | speed | batch | clickhouse → serving | orchestration | transfer → apps.
 * stack/, traffic/, sdk/, bench/ and testing/ sit beside apps. A part is used through its
 * index.ts (core/ has no internals: every file of it is public, and a part's testing/ folder is
 * its public test kit). Tests and shared contract suites (`*.contract.ts`, e.g. core/views.contract.ts)
 * may import any layer (they compose like apps do), never another part's internals.
 */
const PARTS = ['schemas', 'dlq', 'ingest', 'speed', 'batch', 'clickhouse', 'serving', 'orchestration', 'transfer', 'traffic', 'stack', 'sdk', 'apps'];
const TEST = '(\\.test\\.ts$|\\.contract\\.ts$|^testing/|^[a-z]+/testing/)';

/** What each folder's production code may import, besides itself, core/ and npm packages. */
const ALLOWED = {
  schemas: [],
  dlq: ['schemas'],
  ingest: ['schemas', 'dlq'],
  speed: ['schemas', 'dlq'],
  batch: ['schemas', 'dlq'],
  clickhouse: ['schemas'],
  serving: ['schemas', 'dlq', 'ingest', 'speed', 'batch', 'clickhouse'],
  orchestration: ['schemas', 'dlq', 'ingest', 'speed', 'batch', 'clickhouse'],
  transfer: ['schemas', 'dlq', 'ingest', 'batch'],
  traffic: ['schemas', 'dlq', 'ingest', 'sdk'],
  stack: [],
  sdk: [],
};

const layerRules = [
  {
    name: 'core-is-the-bottom',
    comment: 'core/ is the bottom layer: it imports no part of Twinlane.',
    severity: 'error',
    from: { path: '^core/', pathNot: TEST },
    to: { path: `^(${PARTS.join('|')}|bin|bench|testing)/` },
  },
  ...Object.entries(ALLOWED).map(([part, allowed]) => ({
    name: `${part}-imports-upward-or-sideways`,
    comment: `${part}/ may import only ${['core', ...allowed].join(', ')} (the layer rule in .dependency-cruiser.cjs); wire other parts together in apps/.`,
    severity: 'error',
    from: { path: `^${part}/`, pathNot: TEST },
    to: { path: `^(${[...PARTS, 'bin', 'bench', 'testing'].filter((p) => p !== part && !allowed.includes(p)).join('|')})/` },
  })),
];

module.exports = {
  forbidden: [
    ...layerRules,
    {
      name: 'no-deep-import-into-another-part',
      comment: "Import another part through its index.ts (or its testing/ kit), never one of its internal files.",
      severity: 'error',
      from: { path: '^([a-z-]+)/', pathNot: '^bin/' },
      to: { path: `^(${PARTS.join('|')})/`, pathNot: ['^$1/', `^(${PARTS.join('|')})/index\\.ts$`, `^(${PARTS.join('|')})/testing/`] },
    },
    {
      name: 'no-circular',
      comment: 'A circle of imports ties its files into one; break it by moving the shared piece down.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(node_modules|\\.local|data)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js', '.mjs', '.json'] },
  },
};
