/**
 * `twinlane sites add|list|rotate-key|remove|goal add|list|remove|property add|list|remove|segment add|list|remove`: manages the sites file (SITES_FILE, or --file).
 * New keys are printed once and stored only as hashes; the collector and the serving API pick the
 * change up within SITES_RELOAD_INTERVAL, without a restart.
 */
import { Command, Option } from 'commander';
import { loadConfig } from '../../core/config.ts';
import { UsageError } from '../../core/errors.ts';
import type { Segment } from '../../core/sites.ts';
import { SitesFile, type IssuedKeys, type KeyRole } from '../../core/sites.file.ts';
import { checkSegment, DEFAULT_SERVING_OPTIONS } from '../../serving/index.ts';

function fileOf(o: { file?: string }): SitesFile {
  return new SitesFile(o.file ?? loadConfig().SITES_FILE);
}

function collect(v: string, acc: string[]): string[] {
  return [...acc, v];
}

function printKeys(file: SitesFile, keys: IssuedKeys, json: boolean | undefined): void {
  if (json) {
    console.log(JSON.stringify({ file: file.path, ...keys }, null, 2));
    return;
  }
  if (keys.writeKey) console.log(`write key of ${keys.site}: ${keys.writeKey}`);
  if (keys.readKey) console.log(`read key of ${keys.site}:  ${keys.readKey}`);
  console.error(`shown once: ${file.path} keeps only their SHA-256; running services take them within SITES_RELOAD_INTERVAL`);
}

/** `--filters`: a JSON array of `[operator, dimension, value or values]` clauses. */
function segmentClauses(text: string): Segment['filters'] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new UsageError('BAD_SEGMENT', `--filters is not JSON: ${(err as Error).message}`);
  }
  const ok = (v: unknown): v is string => typeof v === 'string';
  if (!Array.isArray(parsed) || parsed.length === 0 || !parsed.every((c) => Array.isArray(c) && c.length === 3 && ok(c[0]) && ok(c[1]) && (ok(c[2]) || (Array.isArray(c[2]) && c[2].every(ok)))))
    throw new UsageError('BAD_SEGMENT', '--filters: expected a non-empty JSON array of [operator, dimension, value or [values]] clauses, e.g. [["is", "visit:country", ["DE"]]]');
  return parsed as Segment['filters'];
}

export function sitesCommand(): Command {
  const sites = new Command('sites').description('the sites file: add a site, list, rotate a key, remove a site (keys are stored hashed, shown once)');
  const fileOption = () => new Option('--file <path>', 'the sites file (default: SITES_FILE)');

  sites
    .command('add')
    .description('add a site with new write and read keys (creates the file when there is none)')
    .argument('<id>', 'site id: lower-case letters, digits, _ or -')
    .option('--name <name>', 'display name')
    .option('--origin <origin>', 'a browser origin allowed to send events (repeatable), e.g. https://shop.example', collect, [])
    .option('--currency <code>', 'reporting currency, ISO 4217 (default USD)')
    .option('--timezone <zone>', 'IANA time zone of its days (default UTC)')
    .addOption(fileOption())
    .option('--json', 'print the keys as JSON')
    .action((id: string, o: { name?: string; origin: string[]; currency?: string; timezone?: string; file?: string; json?: boolean }) => {
      const file = fileOf(o);
      const keys = file.add({ id, allowedOrigins: o.origin, ...(o.name !== undefined ? { name: o.name } : {}), ...(o.currency !== undefined ? { currency: o.currency } : {}), ...(o.timezone !== undefined ? { timezone: o.timezone } : {}) });
      printKeys(file, keys, o.json);
    });

  sites
    .command('list')
    .description('the sites of the file (never a key: only whether it is stored hashed)')
    .addOption(fileOption())
    .option('--json', 'print as JSON')
    .action((o: { file?: string; json?: boolean }) => {
      const rows = fileOf(o).list();
      if (o.json) {
        console.log(JSON.stringify(rows, null, 2));
        return;
      }
      console.table(rows.map((r) => ({ id: r.id, name: r.name ?? '', currency: r.currency, timezone: r.timezone, origins: r.allowedOrigins.join(' '), keys: r.keys })));
    });

  sites
    .command('rotate-key')
    .description('new keys for a site; the old ones stop working once the services reload')
    .argument('<id>', 'site id')
    .addOption(new Option('--role <role>', 'which key').choices(['write', 'read', 'both']).default('both'))
    .addOption(fileOption())
    .option('--json', 'print the keys as JSON')
    .action((id: string, o: { role: KeyRole | 'both'; file?: string; json?: boolean }) => {
      const file = fileOf(o);
      printKeys(file, file.rotateKey(id, o.role === 'both' ? ['write', 'read'] : [o.role]), o.json);
    });

  // Goals (serving/README.md): conversions and conversion rates are asked for by goal name.
  const goal = sites.command('goal').description("a site's goals: a page path (exact, or * for any run of characters) or a custom event's name");
  goal
    .command('add')
    .argument('<site>', 'site id')
    .argument('<name>', 'goal name, as the API and the dashboard show it')
    .option('--page <path>', 'a page path, e.g. /pricing or /docs/*')
    .option('--event <name>', 'a custom event name, e.g. signup (purchase: purchases, with their revenue)')
    .addOption(fileOption())
    .action((site: string, name: string, o: { page?: string; event?: string; file?: string }) => {
      if ((o.page === undefined) === (o.event === undefined)) throw new UsageError('BAD_GOAL', 'give exactly one of --page and --event');
      fileOf(o).addGoal(site, { name, ...(o.page !== undefined ? { page: o.page } : { event: o.event! }) });
      console.error(`goal "${name}" added to ${site}; the serving API takes it within SITES_RELOAD_INTERVAL`);
    });
  goal
    .command('list')
    .argument('<site>', 'site id')
    .addOption(fileOption())
    .option('--json', 'print as JSON')
    .action((site: string, o: { file?: string; json?: boolean }) => {
      const goals = fileOf(o).goals(site);
      if (o.json) console.log(JSON.stringify(goals, null, 2));
      else console.table(goals.map((g) => ({ name: g.name, page: g.page ?? '', event: g.event ?? '' })));
    });
  goal
    .command('remove')
    .argument('<site>', 'site id')
    .argument('<name>', 'goal name')
    .addOption(fileOption())
    .action((site: string, name: string, o: { file?: string }) => {
      fileOf(o).removeGoal(site, name);
      console.error(`goal "${name}" removed from ${site}`);
    });

  // Custom properties (serving/README.md): the keys offered as `event:props:<key>` dimensions and filters, and kept by the speed store.
  const property = sites.command('property').description("a site's custom property keys: breakdowns and filters by event:props:<key> (speed keeps the listed keys only)");
  property
    .command('add')
    .argument('<site>', 'site id')
    .argument('<key>', 'the property name as events carry it, e.g. plan')
    .addOption(fileOption())
    .action((site: string, key: string, o: { file?: string }) => {
      fileOf(o).addProperty(site, key);
      console.error(`property "${key}" listed for ${site}; the serving API and the speed consumers take it within SITES_RELOAD_INTERVAL (speed keeps its values from then on; batch has them all)`);
    });
  property
    .command('list')
    .argument('<site>', 'site id')
    .addOption(fileOption())
    .option('--json', 'print as JSON')
    .action((site: string, o: { file?: string; json?: boolean }) => {
      const keys = fileOf(o).properties(site);
      if (o.json) console.log(JSON.stringify(keys));
      else for (const k of keys) console.log(k);
    });
  property
    .command('remove')
    .argument('<site>', 'site id')
    .argument('<key>', 'property name')
    .addOption(fileOption())
    .action((site: string, key: string, o: { file?: string }) => {
      fileOf(o).removeProperty(site, key);
      console.error(`property "${key}" no longer listed for ${site}`);
    });

  // Saved segments (serving/README.md): `segment=<name>` ANDs their clauses with a query's.
  const segment = sites.command('segment').description("a site's saved segments: named filter sets a query applies with segment=<name>");
  segment
    .command('add')
    .argument('<site>', 'site id')
    .argument('<name>', 'segment name, as the API and the dashboard show it')
    .requiredOption('--filters <json>', 'the clauses as the query API takes them, e.g. \'[["is", "visit:device", ["mobile"]], ["contains", "visit:referrer", ["google"]]]\'')
    .addOption(fileOption())
    .action((site: string, name: string, o: { filters: string; file?: string }) => {
      const file = fileOf(o);
      const filters = segmentClauses(o.filters);
      const goals = file.goals(site);
      try {
        checkSegment(filters, goals, DEFAULT_SERVING_OPTIONS, file.properties(site));
      } catch (err) {
        throw new UsageError('BAD_SEGMENT', `segment "${name}": ${(err as Error).message}`);
      }
      file.addSegment(site, { name, filters });
      console.error(`segment "${name}" added to ${site}; the serving API takes it within SITES_RELOAD_INTERVAL`);
    });
  segment
    .command('list')
    .argument('<site>', 'site id')
    .addOption(fileOption())
    .option('--json', 'print as JSON')
    .action((site: string, o: { file?: string; json?: boolean }) => {
      const segments = fileOf(o).segments(site);
      if (o.json) console.log(JSON.stringify(segments, null, 2));
      else console.table(segments.map((g) => ({ name: g.name, filters: JSON.stringify(g.filters) })));
    });
  segment
    .command('remove')
    .argument('<site>', 'site id')
    .argument('<name>', 'segment name')
    .addOption(fileOption())
    .action((site: string, name: string, o: { file?: string }) => {
      fileOf(o).removeSegment(site, name);
      console.error(`segment "${name}" removed from ${site}`);
    });

  sites
    .command('remove')
    .description('remove a site: its events are refused and its API closed once the services reload (its data stays)')
    .argument('<id>', 'site id')
    .option('--yes', 'confirm')
    .addOption(fileOption())
    .action((id: string, o: { yes?: boolean; file?: string }) => {
      if (!o.yes) throw new UsageError('CONFIRM', `removing "${id}" stops its collection at once; run again with --yes`);
      const file = fileOf(o);
      file.remove(id);
      console.log(`removed ${id} from ${file.path}`);
    });

  return sites;
}
