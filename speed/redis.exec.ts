/** Pipelines and batches of commands of the speed writers, with one way of turning Redis' failures into DependencyErrors. */
import type { RedisClient } from '../core/redis-client.ts';
import { DependencyError } from '../core/errors.ts';

type Pipe = ReturnType<RedisClient['pipeline']>;

/** Each command's error or value; throws only when the pipeline as a whole fails. */
async function pipelineReplies(pipe: Pipe, what: string): Promise<[Error | null, unknown][]> {
  let res: [Error | null, unknown][] | null;
  try {
    res = await pipe.exec();
  } catch (err) {
    throw new DependencyError('REDIS_WRITE_FAILED', `redis: could not ${what}: ${(err as Error).message}`, err);
  }
  if (!res) throw new DependencyError('REDIS_WRITE_FAILED', `redis: ${what}: pipeline aborted`);
  return res;
}

/** Each reply's value; the first command error throws. */
function valuesOf(replies: [Error | null, unknown][], what: string): unknown[] {
  return replies.map(([err, value]) => {
    if (err) throw new DependencyError('REDIS_WRITE_FAILED', `redis: could not ${what}: ${err.message}`, err);
    return value;
  });
}

/** Each command's value; the first command error throws. */
export async function pipelineValues(pipe: Pipe, what: string): Promise<unknown[]> {
  return valuesOf(await pipelineReplies(pipe, what), what);
}

/**
 * Each command's error or value, for commands sent one by one instead of in a pipeline: a
 * pipeline copies every command (their MessagePack arguments are megabytes a round) into one more
 * buffer before it writes, and that fresh memory's page faults cost a consumer a share of its CPU.
 * Commands sent in turn on one connection still go out back to back, in order.
 */
export async function settledReplies(calls: readonly Promise<unknown>[]): Promise<[Error | null, unknown][]> {
  return (await Promise.allSettled(calls)).map((r) => (r.status === 'fulfilled' ? [null, r.value] : [r.reason instanceof Error ? r.reason : new Error(String(r.reason)), null]));
}

/** settledReplies' values; the first command error throws. */
export async function settledValues(calls: readonly Promise<unknown>[], what: string): Promise<unknown[]> {
  return valuesOf(await settledReplies(calls), what);
}
