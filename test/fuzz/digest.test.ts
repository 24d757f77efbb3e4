import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { KernelError, jcs, requestDigest, type JsonObject, type RequestBody } from '../../kernel/index.ts';
import { runs, timeout } from './settings.ts';

/**
 * The request digest under arbitrary requests. It must not depend on how the JSON was written (key order, whitespace,
 * `\u00e9` or `é`), and two requests that differ in anything an executor would send must never share a digest: not
 * `1` and `"1"`, not `[]` and `{}`, not NFC `é` and NFD `e` + U+0301 (an upstream receives different bytes, so they
 * are different requests; normalizing them together would let an approval of one run the other). A value that cannot
 * be canonicalized is a kernel error, never a crash.
 */

const text = fc.oneof(fc.string({ unit: 'grapheme', maxLength: 10 }), fc.string({ unit: 'binary', maxLength: 6 }), fc.constantFrom('é', 'e\u0301', 'Å', 'A\u030A', 'ﬁ', 'fi', '\u2028', '1', 'null', ''));
const json: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    text,
    fc.integer(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(text, tie('value'), { maxKeys: 4 }),
  ),
})).value;
const args = fc.dictionary(text, json, { maxKeys: 5 }) as fc.Arbitrary<JsonObject>;
const body = fc.record({
  tool: fc.stringMatching(/^[a-z0-9_]{1,20}$/),
  args,
  pins: args,
  principal: fc.record({ agentId: text, agentName: text, owner: text }),
  policyVersion: fc.stringMatching(/^[0-9a-f]{8}$/),
  requestId: fc.uuid(),
  nonce: text,
  expiresAt: fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
}) as fc.Arbitrary<RequestBody>;

/** The same JSON value written differently: keys reversed, every non-ASCII character as a \u escape, spaces. */
function rewritten(value: unknown): unknown {
  const reversed = (v: unknown): unknown =>
    Array.isArray(v) ? v.map(reversed) : v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).reverse().map(([k, x]) => [k, reversed(x)])) : v;
  const escaped = JSON.stringify(reversed(value), null, 2).replace(/[^\x00-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return JSON.parse(escaped);
}

/** Equal as JSON data: key order does not count, -0 is 0 (JSON has one zero), everything else does. */
function same(a: unknown, b: unknown): boolean {
  if (typeof a === 'number' && typeof b === 'number') return a === b;
  if (Array.isArray(a) || Array.isArray(b)) return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => same(x, b[i]));
  if (a && b && typeof a === 'object' && typeof b === 'object') {
    const ka = Object.keys(a).sort();
    const kb = Object.keys(b).sort();
    return same(ka, kb) && ka.every((k) => same((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
  }
  return a === b;
}

/** Small edits that make a near-twin: the places a collision would hide. */
const edits: ((v: unknown) => unknown)[] = [
  (v) => (typeof v === 'string' ? v.normalize('NFD') : v),
  (v) => (typeof v === 'string' ? v.normalize('NFC') : v),
  (v) => (typeof v === 'string' ? `${v} ` : typeof v === 'number' ? String(v) : v),
  (v) => (typeof v === 'number' ? v + 1 : v),
  (v) => (Array.isArray(v) ? (v.length ? v.slice(1) : {}) : v),
  (v) => (v && typeof v === 'object' && !Array.isArray(v) ? { ...v, [Object.keys(v)[0] ?? 'k']: null } : v),
  (v) => (v === null ? 'null' : v),
  (v) => [v],
];

/** `edit` applied at the `at`-th node of the value (depth first), or the value unchanged when it has fewer nodes. */
function editAt(value: unknown, at: { n: number }, edit: (v: unknown) => unknown): unknown {
  if (at.n-- === 0) return edit(value);
  if (Array.isArray(value)) return value.map((x) => editAt(x, at, edit));
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, x]) => [k, editAt(x, at, edit)]));
  return value;
}

const digestOrError = (b: RequestBody): string | KernelError => {
  try {
    return requestDigest(b);
  } catch (error) {
    if (error instanceof KernelError) return error;
    throw error;
  }
};

describe('digest fuzz', () => {
  it('is the same however the request was written (key order, whitespace, \\u escapes)', () => {
    fc.assert(
      fc.property(body, (b) => {
        const digest = digestOrError(b);
        fc.pre(typeof digest === 'string');
        expect(requestDigest(rewritten(b) as RequestBody)).toBe(digest);
      }),
      runs(300),
    );
  }, timeout(300, 5));

  it('two requests that differ as JSON data never share a digest (near-twins: NFC/NFD, "1"/1, []/{}, null/"null")', () => {
    fc.assert(
      fc.property(body, fc.nat(40), fc.nat(edits.length - 1), (b, at, which) => {
        const twin = editAt(b, { n: at }, edits[which]!) as RequestBody;
        const [d1, d2] = [digestOrError(b), digestOrError(twin)];
        fc.pre(typeof d1 === 'string' && typeof d2 === 'string');
        expect(d1 === d2, `${jcs(b)}\n${jcs(twin)}`).toBe(same(b, twin));
      }),
      runs(500),
    );
  }, timeout(500, 5));

  it('canonical JSON is one-to-one on JSON data: equal text only for equal values', () => {
    fc.assert(
      fc.property(json, json, (a, b) => {
        let ja: string, jb: string;
        try {
          [ja, jb] = [jcs(a), jcs(b)];
        } catch (error) {
          expect(error).toBeInstanceOf(KernelError);
          return;
        }
        expect(ja === jb).toBe(same(a, b));
        expect(same(JSON.parse(ja), a)).toBe(true);
      }),
      runs(500),
    );
  }, timeout(500, 2));

  it('a value JSON can carry but canonical JSON cannot (a lone surrogate) is a kernel error naming it, never a crash', () => {
    const b = { tool: 't', args: { title: 'a\uD800b' }, pins: {}, principal: { agentId: 'a', agentName: 'n', owner: 'o' }, policyVersion: 'v', requestId: 'r', nonce: 'n', expiresAt: 'x' };
    const error = digestOrError(b as RequestBody);
    expect(error).toBeInstanceOf(KernelError);
    expect((error as KernelError).message).toMatch(/surrogate/i);
  });
});
