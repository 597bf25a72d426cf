/**
 * Regression (issue 13.1): `npx twinlane …` ran bin/twinlane.ts with /bin/sh (no shebang); sh
 * executed a backquoted `twinlane …` of its header comment, which ran the bin again, and so on:
 * thousands of processes within seconds. Reproduced with `npx twinlane --help` in a fresh clone.
 *
 * Each way of starting the CLI runs in its own process group while /proc is watched: it must
 * print the help, exit 0, and never have more than a handful of processes.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
/** npm exec, its shell and node with tsx's esbuild service stay well under this. */
const MAX_PROCESSES = 12;

/** Processes of process group `pgid`, from /proc/<pid>/stat (field 5). */
function groupSize(pgid: number): number {
  let n = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[2]) === pgid) n++;
    } catch {
      /* gone meanwhile */
    }
  }
  return n;
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  maxProcesses: number;
}

/** Runs a command in a new process group; kills the whole group on timeout or on a process storm. */
function runGuarded(command: string, args: string[], cwd: string, timeoutMs = 60_000): Promise<Run> {
  return new Promise((done, fail) => {
    const child = spawn(command, args, { cwd, detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, npm_config_update_notifier: 'false' } });
    const pgid = child.pid!;
    let stdout = '';
    let stderr = '';
    let maxProcesses = 0;
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const killGroup = () => {
      try {
        process.kill(-pgid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    };
    const watch = setInterval(() => {
      maxProcesses = Math.max(maxProcesses, groupSize(pgid));
      if (maxProcesses > MAX_PROCESSES) killGroup();
    }, 20);
    const timer = setTimeout(killGroup, timeoutMs);
    child.on('error', fail);
    child.on('close', async (code) => {
      clearInterval(watch);
      clearTimeout(timer);
      // tsx's esbuild service exits once it sees its parent's pipe close: a moment later.
      const deadline = Date.now() + 3_000;
      while (groupSize(pgid) > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      const left = groupSize(pgid);
      killGroup();
      if (left > 0) fail(new Error(`${left} process(es) of \`${command} ${args.join(' ')}\` outlived it by 3 s`));
      else done({ code, stdout, stderr, maxProcesses });
    });
  });
}

function expectHelp(r: Run, what: string): void {
  expect(r.maxProcesses, `${what}: processes at once`).toBeLessThanOrEqual(MAX_PROCESSES);
  expect(r.code, `${what} exit code; stderr: ${r.stderr.slice(-1500)}`).toBe(0);
  expect(r.stdout).toMatch(/^Usage: twinlane \[options\] \[command\]/);
  for (const part of ['stack', 'pipeline', 'dlq']) expect(r.stdout).toContain(`  ${part} `);
}

describe('the twinlane bin (issue 13.1)', () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('is executable and starts with a shebang that runs Node', () => {
    for (const file of ['bin/twinlane.ts', 'bin/twinlane.js']) {
      const text = readFileSync(join(ROOT, file), 'utf8');
      expect(text.split('\n')[0], file).toMatch(/^#!\/usr\/bin\/env (-S )?node\b/);
      expect(statSync(join(ROOT, file)).mode & 0o111, `${file} has its run bit`).toBe(0o111);
    }
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string> };
    expect(pkg.bin.twinlane).toBe('bin/twinlane.js');
  });

  it('`npx twinlane --help` prints the help and exits', async () => {
    expectHelp(await runGuarded('npx', ['--no-install', 'twinlane', '--help'], ROOT), 'npx twinlane --help');
  }, 90_000);

  it('`./bin/twinlane.ts --help` prints the help and exits', async () => {
    expectHelp(await runGuarded('./bin/twinlane.ts', ['--help'], ROOT), './bin/twinlane.ts --help');
  }, 60_000);

  it('the launcher works from another directory through a symlink, as npm link and global installs run it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'twinlane-bin-'));
    dirs.push(dir);
    symlinkSync(join(ROOT, 'bin/twinlane.js'), join(dir, 'twinlane'));
    expectHelp(await runGuarded(join(dir, 'twinlane'), ['--help'], dir), 'a linked twinlane --help');
  }, 60_000);
});
