/** The serving API's export port (`/v1/export/:site`), built from transfer/: raw events through a temporary file, views as a zip. */
import { randomUUID } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ConfigValues } from '../core/config.ts';
import { ErasureList } from '../core/erasure.list.ts';
import type { Sites } from '../core/sites.ts';
import type { ViewReader } from '../core/views.ts';
import type { ExportPort } from '../serving/index.ts';
import { exportEvents, exportViews, transferOptions } from '../transfer/index.ts';

export function exportPort(config: ConfigValues, dataDir: string, views: ViewReader, sites: Sites): ExportPort {
  const erasures = new ErasureList(dataDir, config.ERASURE_REFRESH);
  const duckdb = transferOptions(config).exportDuckdb;
  return {
    async events(q) {
      const dir = join(tmpdir(), 'twinlane-export');
      mkdirSync(dir, { recursive: true });
      const path = join(dir, `${randomUUID()}.${q.format}`);
      try {
        await exportEvents({ dataDir, duckdb, erasures }, { ...q, out: path });
      } catch (err) {
        rmSync(path, { force: true });
        throw err;
      }
      return { path, cleanup: () => rmSync(path, { force: true }) };
    },
    async views(q, out) {
      const zone = sites.get(q.site)?.timezone;
      await exportViews(views, { ...q, ...(zone ? { zone } : {}) }, out);
    },
  };
}
