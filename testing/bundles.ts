/**
 * The entry points the tests start as processes (services, the CLI), bundled once per test run.
 * Started with `--import tsx`, a service spent 2.4–3.6 CPU-s before it was ready, most of it tsx
 * resolving and loading some 500 modules through its loader thread; bundled, 1.2 CPU-s (the CLI 2.1 →
 * 1.3 CPU-s a run). The tests start about a hundred services and more CLI runs on two cores, so
 * that is time the suite spends on nothing it tests. The bundles are the same sources
 * compiled by the same esbuild tsx uses, node_modules left outside (native addons included).
 * Each entry is bundled alone, so an entry imported by another (a `main` guard comparing
 * `import.meta.url` with `process.argv[1]`) never starts inside it; every other module keeps its
 * own `import.meta.url`, which is what files next to it (schemas, the tracker, the dashboard) are
 * read by.
 */
import { readFile } from 'node:fs/promises';
import { mkdirSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build, type Plugin } from 'esbuild';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** The environment variable that names the folder of this run's bundles (set by the global set-up). */
export const BUNDLES_ENV = 'TWINLANE_TEST_BUNDLES';
/** Every entry point a test starts as a process (the stack's registry is started by `make stack-up`, with tsx). */
export const BUNDLED_ENTRIES = ['bin/twinlane.ts', 'apps/collector.main.ts', 'apps/speed.main.ts', 'apps/lake-archiver.main.ts', 'apps/dlq-archiver.main.ts', 'apps/serving.main.ts', 'apps/scheduler.main.ts'] as const;

/** The bundle's file name of an entry given from the repository root. */
function bundleName(entry: string): string {
  return `${entry.replaceAll('/', '__').replace(/\.ts$/, '')}.mjs`;
}

/** Keeps each module's own `import.meta.url` but the entry's (its main guard compares it with argv[1]). */
function ownUrls(entryPath: string): Plugin {
  return {
    name: 'own-import-meta-url',
    setup(b) {
      b.onLoad({ filter: /\.ts$/ }, async (args) => {
        const source = await readFile(args.path, 'utf8');
        const contents = args.path === entryPath ? source : source.replaceAll('import.meta.url', JSON.stringify(pathToFileURL(args.path).href));
        return { contents, loader: 'ts' };
      });
    },
  };
}

/** Bundles every entry into `dir` (made if missing); about 1.6 s on two cores. */
export async function buildEntryBundles(dir: string): Promise<void> {
  mkdirSync(dir, { recursive: true });
  await Promise.all(
    BUNDLED_ENTRIES.map((entry) => {
      const entryPath = resolve(ROOT, entry);
      return build({
        entryPoints: [entryPath],
        outfile: join(dir, bundleName(entry)),
        bundle: true,
        platform: 'node',
        format: 'esm',
        target: 'node20',
        packages: 'external',
        sourcemap: 'linked',
        logLevel: 'warning',
        plugins: [ownUrls(entryPath)],
      });
    }),
  );
}

/**
 * The Node arguments that run `entry` (a path from the repository root, e.g. `apps/speed.main.ts`):
 * its bundle when the global set-up made them (BUNDLES_ENV), else the source with tsx.
 */
export function entryArgs(entry: string): string[] {
  const dir = process.env[BUNDLES_ENV];
  const rel = relative(ROOT, resolve(ROOT, entry));
  if (dir && (BUNDLED_ENTRIES as readonly string[]).includes(rel)) return ['--enable-source-maps', join(dir, bundleName(rel))];
  return ['--import', 'tsx', join(ROOT, rel)];
}
