/**
 * Durable file-system steps for everything that keeps state in files (the lake, the batch view
 * store, the dead-letter store, the job ledger): a file is fsynced before it is renamed into
 * place, and the directory is fsynced after, so a crash leaves either the old state or the new
 * one, never a half file under a final name.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, writeFileSync } from 'node:fs';
import { mkdir, open, rename } from 'node:fs/promises';
import { dirname } from 'node:path';

export function fsyncFile(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** A folder is fsynced like a file (opened read-only): that makes the names in it durable. */
export const fsyncDir: (dir: string) => void = fsyncFile;

/** fsync the source, rename it to `to` (creating its folder), fsync the target folder. */
export function renameDurable(from: string, to: string): void {
  fsyncFile(from);
  mkdirSync(dirname(to), { recursive: true });
  renameSync(from, to);
  fsyncDir(dirname(to));
}

/** Writes a small file atomically: temp name, fsync, rename, fsync the folder. */
export function writeFileAtomic(path: string, data: string): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}-${Date.now()}`;
  const fd = openSync(tmp, 'w');
  try {
    writeFileSync(fd, data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  fsyncDir(dirname(path));
}

/**
 * Async forms of the steps above for the archiver's hot path: fsync and rename run on libuv's
 * threads, so decoding goes on meanwhile and several fsyncs are in flight at once.
 */
export async function fsyncPath(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Writes a small file atomically (temp name, fsync, rename, fsync the folder), off the main thread. */
export async function writeFileAtomicAsync(path: string, data: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}-${Date.now()}`;
  const fh = await open(tmp, 'w');
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
  await fsyncPath(dirname(path));
}
