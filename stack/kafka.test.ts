import { describe, expect, it } from 'vitest';
import { newClusterId } from './kafka.ts';

describe('newClusterId', () => {
  it('never starts with "-" (StorageTool would read it as an option) and encodes 16 bytes', () => {
    const ids = Array.from({ length: 5_000 }, () => newClusterId());
    expect(ids.filter((id) => id.startsWith('-'))).toEqual([]);
    for (const id of ids.slice(0, 100)) expect(Buffer.from(id, 'base64url')).toHaveLength(16);
    expect(new Set(ids).size).toBe(ids.length);
  });
});
