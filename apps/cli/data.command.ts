/**
 * `twinlane data status|migrate`: the data-format versions of DATA_DIR and of the speed store
 * (core/data-format.ts), and the one command that migrates them. Stop the services first: each
 * one checks the formats when it starts, not while it runs.
 */
import { Command, Option } from 'commander';
import { loadConfig } from '../../core/config.ts';
import type { FormatInspection } from '../../core/data-format.ts';
import { createLogger } from '../../core/logger.ts';
import { DATA_DIR_KIND, SPEED_STORE_KIND, guardDataFormats, inspectDataFormats, type DataStoreName } from '../data-format.guard.ts';

function describe(ins: FormatInspection, store: DataStoreName): string {
  const written = ins.marker ? ` (written by ${ins.marker.writtenBy} at ${ins.marker.at})` : '';
  const kind = store === 'data-dir' ? DATA_DIR_KIND : SPEED_STORE_KIND;
  switch (ins.verdict) {
    case 'empty':
      return `${ins.where}: empty; format ${ins.current} is written by the first process that starts`;
    case 'current':
      return `${ins.where}: format ${ins.found}${written}, current`;
    case 'unmarked':
      return `${ins.where}: data without a format marker (written before formats were recorded), format ${ins.found}, current; the next process to start marks it`;
    case 'newer':
      return `${ins.where}: format ${ins.found}${written}, newer than format ${ins.current} of this Twinlane; upgrade Twinlane`;
    case 'older':
      return `${ins.where}: format ${ins.found}${written}, this Twinlane needs format ${ins.current}; ${ins.migratable ? 'run `twinlane data migrate` with the services stopped' : kind.withoutMigration(ins.found!)}`;
  }
}

export function dataCommand(): Command {
  const data = new Command('data').description('data-format versions of DATA_DIR and the speed store: status, migrate');

  data
    .command('status')
    .description('the format each store is in and the one this Twinlane needs (writes nothing; exit code 1 when a service would refuse to start)')
    .option('--json', 'print as JSON')
    .action(async (o: { json?: boolean }) => {
      const rows = await inspectDataFormats(loadConfig());
      if (o.json) console.log(JSON.stringify(rows.map((r) => ({ store: r.store, ...r.inspection })), null, 2));
      else for (const r of rows) console.log(describe(r.inspection, r.store));
      if (rows.some((r) => r.inspection.verdict === 'older' || r.inspection.verdict === 'newer')) process.exitCode = 1;
    });

  data
    .command('migrate')
    .description('bring DATA_DIR and the speed store to the formats of this Twinlane (stop the services first); marks empty and unmarked stores')
    .addOption(new Option('--store <store>', 'only this store').choices(['data-dir', 'speed-store']))
    .option('--json', 'print as JSON')
    .action(async (o: { store?: DataStoreName; json?: boolean }) => {
      const config = loadConfig();
      const logger = createLogger({ level: config.LOG_LEVEL === 'info' ? 'warn' : config.LOG_LEVEL, pretty: config.LOG_PRETTY }, 'data-migrate');
      const results = await guardDataFormats(config, { role: 'twinlane data migrate', stores: o.store ? [o.store] : ['data-dir', 'speed-store'], mode: 'migrate', logger });
      if (o.json) {
        console.log(JSON.stringify(results, null, 2));
        return;
      }
      for (const r of results) {
        const what = { created: 'was empty: marked', adopted: 'held unmarked data: marked', current: 'already', migrated: `migrated from format ${r.found} to` }[r.action];
        console.log(`${r.where}: ${what} format ${r.format}`);
      }
    });
  return data;
}
