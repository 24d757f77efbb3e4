import { describe, expect, it } from 'vitest';

// test/support/expect-setup.ts (every project's setup file): a RegExp where a string is expected means "matches".
// Without it Vitest's toMatchObject accepts anything for a RegExp, and every `message: /.../` in the suite is vacuous.

describe('a RegExp in an expected object', () => {
  it('must match the string in toMatchObject, at any depth and through rejects', async () => {
    expect(() => expect({ message: '' }).toMatchObject({ message: /^already paired/ })).toThrow();
    expect(() => expect({ error: { message: 'other' } }).toMatchObject({ error: { message: /paired/ } })).toThrow();
    await expect(expect(Promise.reject(Object.assign(new Error(''), { code: 'x' }))).rejects.toMatchObject({ message: /paired/ })).rejects.toThrow();
    expect({ message: 'already paired, to you' }).toMatchObject({ message: /^already paired/ });
    expect({ error: { message: 'ALREADY' } }).toMatchObject({ error: { message: /already/i } });
  });

  it('must match in toEqual too, and is no match for a value that is not a string', () => {
    expect({ a: 'abc' }).toEqual({ a: /b/ });
    expect(() => expect({ a: 'xyz' }).toEqual({ a: /b/ })).toThrow();
    expect(() => expect({ a: 5 }).toMatchObject({ a: /5/ })).toThrow();
    expect(() => expect({ a: undefined }).toMatchObject({ a: /x/ })).toThrow();
    // A RegExp compared with a RegExp is still compared as one.
    expect({ pattern: /a+/g }).toEqual({ pattern: /a+/g });
    // A global flag does not make repeated matches alternate.
    const g = /b/g;
    expect({ a: 'abc', b: 'abc' }).toEqual({ a: g, b: g });
  });
});
