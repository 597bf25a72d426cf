/**
 * Reads a request body within the size limit, undoes gzip, and checks it is UTF-8 text.
 * Each failure is a CollectError carrying the bytes to dead-letter: a body over the limit
 * keeps only its first bytes (it is never read whole), a broken gzip keeps the bytes as sent.
 */
import { isUtf8 } from 'node:buffer';
import type { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import { CollectError } from './collect.errors.ts';

const gunzipAsync = promisify(gunzip);

export const ACCEPTED_TYPES = ['application/json', 'text/plain'];

/**
 * Reads at most `limit` bytes. A body over the limit (declared by Content-Length or found
 * while reading) is read only until `keep` bytes are in hand, for the dead letter.
 */
export function readBody(stream: Readable, limit: number, keep: number, declaredLength?: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    let done = false;
    const over = () => total > limit || (declaredLength ?? 0) > limit;
    const tooLarge = () => {
      done = true;
      stream.removeListener('data', onData);
      stream.pause();
      const size = Math.max(total, declaredLength ?? 0);
      const kept = Buffer.concat(chunks).subarray(0, keep);
      reject(new CollectError('BODY_TOO_LARGE', `body of ${total > limit || declaredLength !== undefined ? '' : 'more than '}${size} bytes exceeds the limit of ${limit} bytes; send fewer events per request`, { bytes: kept, format: 'binary', truncatedFrom: size }));
    };
    const onData = (chunk: Buffer) => {
      total += chunk.length;
      chunks.push(chunk);
      if (over() && total >= keep) tooLarge();
    };
    stream.on('data', onData);
    stream.once('error', (err) => {
      if (!done) reject(err);
    });
    stream.once('end', () => {
      if (done) return;
      if (over()) tooLarge();
      else resolve(Buffer.concat(chunks, total));
    });
  });
}

/** gzip → bytes, bounded by `limit` after decompression (a small bomb cannot fill memory). */
export async function decodeBody(raw: Buffer, encoding: string | undefined, limit: number): Promise<Buffer> {
  const enc = (encoding ?? 'identity').trim().toLowerCase();
  if (enc === 'identity' || enc === '') return raw;
  if (enc !== 'gzip' && enc !== 'x-gzip') {
    throw new CollectError('UNSUPPORTED_MEDIA_TYPE', `Content-Encoding "${encoding}" is not supported; use gzip or none`, { bytes: raw, format: 'binary' });
  }
  try {
    return await gunzipAsync(raw, { maxOutputLength: limit });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ERR_BUFFER_TOO_LARGE') {
      throw new CollectError('BODY_TOO_LARGE', `body exceeds the limit of ${limit} bytes once decompressed; send fewer events per request`, { bytes: raw, format: 'binary' });
    }
    throw new CollectError('PAYLOAD_FORMAT', `gzip body cannot be decompressed (${(err as Error).message}); was it truncated?`, { bytes: raw, format: 'binary' });
  }
}

/** The JSON value of a decoded body; the text must be UTF-8 (a BOM is allowed). */
export function parseBody(body: Buffer): unknown {
  if (!isUtf8(body)) throw new CollectError('PAYLOAD_FORMAT', 'body is not valid UTF-8', { bytes: body, format: 'binary' });
  const text = body.toString('utf8');
  try {
    return JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
  } catch (err) {
    throw new CollectError('PAYLOAD_FORMAT', `body is not valid JSON: ${(err as Error).message}`, { bytes: body, format: 'json' });
  }
}

/** `application/json; charset=utf-8` → `application/json`. */
export function mediaType(header: string | undefined): string {
  return (header ?? '').split(';')[0]!.trim().toLowerCase();
}
