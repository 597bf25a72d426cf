/**
 * Redaction keeps its answers and stays linear on adversarial text: 100,000-character strings
 * built to make a backtracking pattern retry at every position complete (a generous timeout,
 * no timing assertion), and still redact what they hold.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { redactPii, redactPiiCounting } from './pii.redactor.ts';

describe('redactPii', () => {
  it('redacts addresses (also %40-encoded, several labels) and Luhn-valid card numbers, nothing else', () => {
    expect(redactPii('mail a.b+c@mail.example.co.uk now')).toBe('mail [email] now');
    expect(redactPii('?email=jane.doe%40mail.example&x=1')).toBe('?email=[email]&x=1');
    expect(redactPii('x@y@z.com')).toBe('x@[email]');
    expect(redactPii('a@b.com1')).toBe('[email]1');
    expect(redactPii('no at sign, 1234 5678')).toBe('no at sign, 1234 5678');
    expect(redactPii('card 4111 1111 1111 1111 / id 1234567890123')).toBe('card [card] / id 1234567890123');
  });

  it('leaves UUIDs whole, though about one in 450 holds a Luhn-valid run of 13 digits, and still redacts a card beside one', () => {
    // Each holds such a run (found among random UUIDs), which was redacted as a card before.
    const caught = ['a2f68f70-0a05-4583-9758-004bf9005daf', '31158069-3831-492e-9235-76a116b3126b', 'DA116516-8787-4668-81B6-76F19D8B74F0'];
    for (const id of [...caught, ...Array.from({ length: 20_000 }, () => randomUUID())]) {
      const counted = redactPiiCounting(`/orders/${id}?x=1`);
      expect(counted.text, id).toBe(`/orders/${id}?x=1`);
      expect(counted.redactions.card, id).toBe(0);
    }
    expect(redactPii(`${caught[0]} 4111 1111 1111 1111`)).toBe(`${caught[0]} [card]`);
    expect(redactPii(`4111111111111111 ${caught[1]}`)).toBe(`[card] ${caught[1]}`);
  });

  it('redacts the last 64 characters of an overlong local part with its domain', () => {
    expect(redactPii(`${'a'.repeat(100)}@b.co`)).toBe(`${'a'.repeat(36)}[email]`);
  });

  it.each([
    ['a run of local-part characters and one @', `${'a'.repeat(100_000)}@`, `${'a'.repeat(100_000)}@`],
    ['alternating a@', 'a@'.repeat(50_000), 'a@'.repeat(50_000)],
    ['dots then @', `${'a.'.repeat(50_000)}@`, `${'a.'.repeat(50_000)}@`],
    ['a domain of 50,000 labels without a top-level domain', `x@${'a-.'.repeat(33_333)}`, `x@${'a-.'.repeat(33_333)}`],
    ['encoded separators only', '%40'.repeat(33_333), '%40'.repeat(33_333)],
    ['digits and spaces', '1 '.repeat(50_000), '1 '.repeat(50_000)],
    ['a real address at the end', `${'a'.repeat(99_990)} x@mail.example`, `${'a'.repeat(99_990)} [email]`],
  ])('completes on %s (100,000 characters)', (_name, text, want) => {
    expect(text.length).toBeGreaterThanOrEqual(99_999);
    expect(redactPii(text)).toBe(want);
  }, 60_000);
});
