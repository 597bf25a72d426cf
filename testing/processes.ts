/**
 * Services and the CLI as processes, for tests of the real entry points: their wiring, their
 * configuration from the environment, and what happens between processes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { onCleanup } from './helpers.ts';
import { entryArgs } from './bundles.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Runs a `twinlane` command; its standard output, or a rejection with its output. */
export function twinlane(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...entryArgs('bin/twinlane.ts'), ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`twinlane ${args.join(' ')}: exit ${code}: ${err}`))));
  });
}

/** Starts an entry point; resolves with the process and the first log line of `event` once it is printed. */
export function startEntry(entry: string, env: Record<string, string>, event: string): Promise<{ child: ChildProcess; line: Record<string, unknown>; logs: () => string }> {
  const child = spawn(process.execPath, entryArgs(entry), { cwd: ROOT, env: { ...process.env, LOG_LEVEL: 'info', LOG_PRETTY: 'false', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  onCleanup(async () => {
    child.kill('SIGTERM');
    await new Promise((r) => (child.exitCode !== null ? r(null) : child.once('exit', r)));
  });
  let out = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${entry} did not log ${event} within 60 s:\n${out.slice(-3000)}`)), 60_000);
    const onData = (d: Buffer) => {
      out += d.toString();
      for (const l of out.split('\n')) {
        if (!l.includes(`"${event}"`)) continue;
        clearTimeout(timer);
        resolve({ child, line: JSON.parse(l) as Record<string, unknown>, logs: () => out });
        return;
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    child.once('exit', (code) => reject(new Error(`${entry} exited with ${code}:\n${out.slice(-3000)}`)));
  });
}

