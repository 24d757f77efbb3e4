import { expect } from 'vitest';

/**
 * A regular expression where a string is expected, in `toEqual` and `toMatchObject`, means "matches". Without this,
 * Vitest's `toMatchObject` treats a RegExp as an object with no keys and accepts any value at all: a test written as
 * `toMatchObject({ message: /already paired/ })` passed with the message emptied (seen 2026-11-28 while mutation
 * testing kernel/directory.ts). `expect.stringMatching` remains the explicit form.
 */
function regexMatchesString(a: unknown, b: unknown): boolean | undefined {
  if (b instanceof RegExp && typeof a === 'string') return new RegExp(b.source, b.flags.replace('g', '')).test(a);
  if (a instanceof RegExp && typeof b === 'string') return new RegExp(a.source, a.flags.replace('g', '')).test(b);
  if (b instanceof RegExp && !(a instanceof RegExp)) return false;
  return undefined;
}

expect.addEqualityTesters([regexMatchesString]);
