/** Managed child processes of the local stack: PID files, liveness, ownership, stop. */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';

export interface StackPaths {
  root: string;
  state: string;
  logs: string;
  kafkaLibs: string;
  kafkaData: string;
}

export function stackPaths(root = process.cwd()): StackPaths {
  const local = resolve(root, '.local');
  return {
    root: resolve(root),
    state: join(local, 'stack'),
    logs: join(local, 'logs'),
    kafkaLibs: join(local, 'kafka', 'libs'),
    kafkaData: join(local, 'kafka', 'data'),
  };
}

export function pidFile(paths: StackPaths, name: string): string {
  return join(paths.state, `${name}.pid`);
}

export function logFile(paths: StackPaths, name: string): string {
  return join(paths.logs, `${name}.log`);
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return '';
  }
}

/**
 * Live processes whose command line carries `marker` (an absolute entry path), found in /proc: a
 * process started by a run that was killed between spawning it and writing its PID file has no
 * file, yet is still ours. Empty where /proc does not exist.
 */
export function processesWith(marker: string): number[] {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  return entries.filter((e) => /^\d+$/.test(e) && Number(e) !== process.pid && cmdline(Number(e)).includes(marker)).map(Number);
}

/**
 * The PID recorded for `name`, if that process still runs and is still ours (its command line
 * carries `marker`), so a recycled PID is never mistaken for one of our services.
 */
export function runningPid(paths: StackPaths, name: string, marker: string): number | undefined {
  const file = pidFile(paths, name);
  if (!existsSync(file)) return undefined;
  const pid = Number(readFileSync(file, 'utf8').trim());
  if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid) || !cmdline(pid).includes(marker)) {
    rmSync(file, { force: true });
    return undefined;
  }
  return pid;
}

export function startDetached(paths: StackPaths, name: string, command: string, args: string[], env: NodeJS.ProcessEnv = process.env): number {
  mkdirSync(paths.state, { recursive: true });
  mkdirSync(paths.logs, { recursive: true });
  const log = logFile(paths, name);
  mkdirSync(dirname(log), { recursive: true });
  const fd = openSync(log, 'a');
  const child = spawn(command, args, { cwd: paths.root, env, detached: true, stdio: ['ignore', fd, fd] });
  if (child.pid === undefined) throw new Error(`could not start ${name} (${command})`);
  child.unref();
  writeFileSync(pidFile(paths, name), String(child.pid));
  return child.pid;
}

/** SIGTERM, then SIGKILL after `graceMs`. Resolves once the process is gone. */
export async function stopPid(pid: number, graceMs = 20_000): Promise<'stopped' | 'killed'> {
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return 'stopped';
  }
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!isAlive(pid)) return 'stopped';
    await sleep(100);
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    /* already gone */
  }
  while (isAlive(pid)) await sleep(50);
  return 'killed';
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs: number, isDead?: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    if (isDead?.()) throw new Error(`${what} exited during start-up`);
    await sleep(250);
  }
  throw new Error(`${what} did not become ready within ${Math.round(timeoutMs / 1000)} s`);
}

export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolvePort(port));
    });
  });
}

export function portOpen(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolveOpen) => {
    const srv = createServer();
    srv.once('error', () => resolveOpen(true));
    srv.listen(port, host, () => srv.close(() => resolveOpen(false)));
  });
}
