/** `twinlane erase --site S [--visitor V] [--dry-run]`: the right to erasure (apps/erase.ts). */
import { Command } from 'commander';
import cliProgress from 'cli-progress';
import { loadConfig } from '../../core/config.ts';
import { createLogger } from '../../core/logger.ts';
import { guardDataFormats } from '../data-format.guard.ts';
import { erase, type EraseReport } from '../erase.ts';

function print(r: EraseReport): void {
  const who = r.wholeSite ? `site ${r.site} (all visitors)` : `visitor ${r.visitorHash!.slice(0, 12)}… of site ${r.site}`;
  const verb = r.dryRun ? 'would remove' : 'removed';
  console.log(`${r.dryRun ? 'dry run: ' : ''}erasure ${r.id} of ${who} (${(r.durationMs / 1000).toFixed(1)} s)`);
  console.log(`  lake: ${verb} ${r.lake.rows} rows from ${r.lake.files} file(s)${r.lake.deletedFiles ? ` (${r.lake.deletedFiles} left empty, deleted)` : ''} on ${r.lake.days.length} day(s)${r.lake.passes > 1 ? `, ${r.lake.passes} passes` : ''}`);
  if (r.dryRun) console.log(`  batch views: would recompute ${r.views.days.length ? r.views.days.join(', ') : 'no day'}`);
  else
    console.log(
      `  batch views: ${r.views.days.length ? `recomputed ${r.views.days.join(', ')} into ${r.views.version}` : 'no day held it'}${r.views.removedDays.length ? `; ${r.views.removedDays.join(', ')} left without data, removed` : ''}${r.views.versionsDropped.length ? `; older versions dropped: ${r.views.versionsDropped.join(', ')}` : ''}`,
    );
  console.log(`  warehouse: ${r.warehouse === 'off' ? 'off' : `${verb} ${r.warehouse.rows} events on ${r.warehouse.days.length} day(s)`}${r.clickhouseViews === 'published' ? '; ClickHouse views published again' : ''}`);
  console.log(`  dead letters: ${verb} ${r.deadLetters.letters} letter(s) from ${r.deadLetters.files} file(s)`);
  console.log(`  speed: ${r.speed}`);
  if (!r.dryRun) console.log('  the erasure list keeps it erased on every path (speed rebuilds, the lake archiver, batch runs, imports, exports)');
}

export function eraseCommand(): Command {
  return new Command('erase')
    .description('Erase one visitor of a site (or a whole site) from the lake, the batch views, the warehouse and the dead letters, and keep it erased')
    .requiredOption('--site <site>', 'site id')
    .option('--visitor <id>', 'visitor id (without it: every visitor of the site)')
    .option('--dry-run', 'count what would be removed; change nothing')
    .option('--json', 'print the report as JSON')
    .addHelpText('after', '\nThe visitor id is never stored in clear: the erasure list and the job ledger keep a keyed hash. A failed erasure stays pending; running the same command again finishes it.')
    .action(async (o: { site: string; visitor?: string; dryRun?: boolean; json?: boolean }) => {
      const config = loadConfig();
      const logger = createLogger({ level: config.LOG_LEVEL === 'info' ? 'warn' : config.LOG_LEVEL, pretty: config.LOG_PRETTY }, 'erase');
      await guardDataFormats(config, { role: 'twinlane erase', stores: ['data-dir'], logger });
      const bar = new cliProgress.SingleBar({ format: 'erase [{bar}] {phase} {value}/{total}', hideCursor: true, stream: process.stderr }, cliProgress.Presets.shades_classic);
      let phase = '';
      const report = await erase(
        {
          config,
          logger,
          onPhase: (p, done, total) => {
            if (!process.stderr.isTTY) return;
            if (p !== phase) {
              if (phase) bar.stop();
              bar.start(total, done, { phase: p });
              phase = p;
            } else bar.update(done, { phase: p });
          },
        },
        { site: o.site, ...(o.visitor !== undefined ? { visitor: o.visitor } : {}), ...(o.dryRun ? { dryRun: true } : {}) },
      ).finally(() => phase && bar.stop());
      if (o.json) console.log(JSON.stringify(report, null, 2));
      else print(report);
    });
}
