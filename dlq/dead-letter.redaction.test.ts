/**
 * A dead letter's JSON is redacted string by string before it is stored (dead-letter.writer.ts
 * redactLetter); the event's id must come through whole, or the letter can no longer be replayed.
 */
import { describe, expect, it } from 'vitest';
import { redactLetter } from './dead-letter.writer.ts';

describe('redactLetter', () => {
  it('redacts a card in the payload and keeps the event id, though its digits make a Luhn-valid run', () => {
    const body = { id: 'a2f68f70-0a05-4583-9758-004bf9005daf', type: 'purchase', revenue: '12', url: 'https://shop.example/?cc=4111111111111111' };
    const letter = redactLetter({ payload: Buffer.from(JSON.stringify(body)), payloadFormat: 'json' as const, message: 'revenue: expected number, got a string' });
    expect(JSON.parse(letter.payload.toString('utf8'))).toEqual({ ...body, url: 'https://shop.example/?cc=[card]' });
    expect(letter.redacted).toBe('card=1');
  });
});
