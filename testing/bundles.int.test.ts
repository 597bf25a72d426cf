import { describe, expect, it } from 'vitest';
import { BUNDLES_ENV } from './bundles.ts';

describe('entry bundles', () => {
  it('reach the test workers from the global set-up', () => {
    expect(process.env[BUNDLES_ENV]).toMatch(/bundles-/);
  });
});
