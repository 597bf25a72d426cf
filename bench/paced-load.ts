/**
 * An open-loop HTTP load at a steady rate, for latency at a given request rate.
 *
 * autocannon's `overallRate` is not a steady rate: each connection sends its share of a second
 * back to back as soon as the second starts and then waits for the next (its counter is reset by
 * a 1-second interval), so 1,000 requests/s over 50 connections arrive as a burst at the start of
 * every second, at whatever rate the server drains them. Here request i is due at t0 + i / rate
 * whatever happened to the others, and its latency counts from when it was due, not from when it
 * was sent: a slow answer that holds up the requests behind it shows in theirs (no coordinated
 * omission). It runs in a process of its own, so the client does not share the server's event loop
 * when the server lives in the bench's process.
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';
import { quantile } from './figures.ts';

export interface PacedRequest {
  path: string;
  headers?: Record<string, string>;
}

export interface PacedLoadOptions {
  /** Origin, such as http://127.0.0.1:3000. */
  url: string;
  /** Sent in turn. */
  requests: PacedRequest[];
  /** Requests per second, spread evenly. */
  rate: number;
  seconds: number;
  /** Connections the requests share (a request waits for a free one; the wait counts). */
  connections: number;
}

export interface PacedLoadResult {
  sent: number;
  /** Requests that failed or answered other than 2xx. */
  errors: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  /** Answered requests per second, from the first due time to the last answer. */
  servedRps: number;
  /** How late the client itself sent requests (its timers and CPU): p99 and max, milliseconds. */
  sendLagP99: number;
  sendLagMax: number;
  /** The client's own CPU per request, microseconds (what it took from the machine). */
  clientCpuUsPerRequest: number;
}

/** Runs the load in a child process and resolves with its figures (milliseconds). */
export function pacedLoad(o: PacedLoadOptions): Promise<PacedLoadResult> {
  return new Promise((resolve, reject) => {
    const child = fork(fileURLToPath(import.meta.url), [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let result: PacedLoadResult | undefined;
    child.once('message', (r) => (result = r as PacedLoadResult));
    child.once('error', reject);
    child.once('exit', (code) => (result && code === 0 ? resolve(result) : reject(new Error(`paced load exited with ${code}`))));
    child.send(o);
  });
}

async function run(o: PacedLoadOptions): Promise<PacedLoadResult> {
  // A server that stops answering ends the run with errors within 30 s rather than hanging it.
  const pool = new Pool(o.url, { connections: o.connections, pipelining: 1, headersTimeout: 30_000, bodyTimeout: 30_000 });
  const total = Math.round(o.rate * o.seconds);
  const interval = 1000 / o.rate;
  const latency = new Float64Array(total);
  const sendLag = new Float64Array(total);
  let errors = 0;
  let finished = 0;
  let lastAnswer = 0;
  const t0 = performance.now() + 5;
  const cpu0 = process.cpuUsage();
  await new Promise<void>((resolve) => {
    // dispatch with a plain handler: no stream or promise per request, so the client takes as
    // little as it can of the cores it shares with the server (230 µs of CPU a request here, request() 300).
    const fire = (i: number): void => {
      const due = t0 + i * interval;
      const req = o.requests[i % o.requests.length]!;
      sendLag[i] = performance.now() - due;
      let status = 0;
      const done = (failed: boolean): void => {
        if (failed || status < 200 || status >= 300) errors++;
        lastAnswer = performance.now();
        latency[i] = lastAnswer - due;
        if (++finished === total) resolve();
      };
      pool.dispatch(
        { method: 'GET', path: req.path, headers: req.headers ?? {} },
        // A pool's clients take handlers of this form (the DispatchHandler callbacks of undici 6).
        {
          onConnect: () => undefined,
          onHeaders: (statusCode: number) => {
            status = statusCode;
            return true;
          },
          onData: () => true,
          onComplete: () => done(false),
          onError: () => done(true),
        } as unknown as Parameters<Pool['dispatch']>[1],
      );
    };
    let next = 0;
    // Timers fire at about 1 ms: each tick sends every request that has come due since the last.
    const tick = (): void => {
      const now = performance.now();
      while (next < total && t0 + next * interval <= now) fire(next++);
      if (next < total) setTimeout(tick, Math.max(0, t0 + next * interval - performance.now()));
    };
    setTimeout(tick, 5);
  });
  const cpu = process.cpuUsage(cpu0);
  await pool.close();
  latency.sort();
  sendLag.sort();
  return {
    sent: total,
    errors,
    p50: quantile(latency, 0.5),
    p90: quantile(latency, 0.9),
    p99: quantile(latency, 0.99),
    max: latency[total - 1] ?? Number.NaN,
    servedRps: (total * 1000) / (lastAnswer - t0),
    sendLagP99: quantile(sendLag, 0.99),
    sendLagMax: sendLag[total - 1] ?? Number.NaN,
    clientCpuUsPerRequest: (cpu.user + cpu.system) / total,
  };
}

if (import.meta.url === `file://${process.argv[1]}` && process.send) {
  process.once('message', (o) => {
    void run(o as PacedLoadOptions).then((r) => process.send!(r, () => process.disconnect()));
  });
}
