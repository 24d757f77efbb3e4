import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { jcs, requestDigest, type JsonObject, type RequestBody } from '../../kernel/index.ts';

/** The request digest: RFC 8785 canonical JSON under a domain tag, so equal requests hash equal and any change shows. */

const json = fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<unknown>;
const args = fc.dictionary(fc.string({ maxLength: 8 }), json, { maxKeys: 6 }) as fc.Arbitrary<JsonObject>;
const body = fc.record({
  tool: fc.stringMatching(/^[a-z0-9_]{1,20}$/),
  args,
  pins: args,
  principal: fc.record({ agentId: fc.string(), agentName: fc.string(), owner: fc.emailAddress() }),
  policyVersion: fc.stringMatching(/^[0-9a-f]{8}$/),
  requestId: fc.uuid(),
  nonce: fc.base64String({ minLength: 4, maxLength: 12 }),
  expiresAt: fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
}) as fc.Arbitrary<RequestBody>;

/** The same value with every object's keys in another order. */
function shuffleKeys(value: unknown, seed: number): unknown {
  if (Array.isArray(value)) return value.map((v, i) => shuffleKeys(v, seed + i));
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>);
    entries.sort((a, b) => ((a[0].length * 31 + seed) % 7) - ((b[0].length * 31 + seed) % 7) || (a[0] < b[0] ? 1 : -1));
    return Object.fromEntries(entries.map(([k, v]) => [k, shuffleKeys(v, seed + 1)]));
  }
  return value;
}

describe('request digest', () => {
  it('is unchanged by key order and whitespace', () => {
    fc.assert(
      fc.property(body, fc.integer(), (b, seed) => {
        const reordered = shuffleKeys(b, seed) as RequestBody;
        const reparsed = JSON.parse(JSON.stringify(b, null, 3)) as RequestBody;
        expect(requestDigest(reordered)).toBe(requestDigest(b));
        expect(requestDigest(reparsed)).toBe(requestDigest(b));
      }),
    );
  });

  it('changes with any change of tool, argument, pin or principal', () => {
    fc.assert(
      fc.property(body, fc.string({ minLength: 1, maxLength: 6 }), json, (b, key, value) => {
        const digest = requestDigest(b);
        const variants: RequestBody[] = [
          { ...b, tool: `${b.tool}x` },
          { ...b, args: { ...b.args, [`${key}!`]: value as JsonObject[string] } },
          { ...b, pins: { ...b.pins, [`${key}!`]: value as JsonObject[string] } },
          { ...b, principal: { ...b.principal, agentId: `${b.principal.agentId}x` } },
          { ...b, principal: { ...b.principal, owner: `x${b.principal.owner}` } },
        ];
        for (const variant of variants) expect(requestDigest(variant)).not.toBe(digest);
      }),
    );
  });

  it('is domain-separated: the digest is not the bare hash of the canonical body', async () => {
    const { createHash } = await import('node:crypto');
    const b: RequestBody = {
      tool: 't',
      args: {},
      pins: {},
      principal: { agentId: 'a', agentName: 'n', owner: 'o@example.com' },
      policyVersion: 'v',
      requestId: 'r',
      nonce: 'n',
      expiresAt: '2026-01-01T00:00:00.000Z',
    };
    const bare = createHash('sha256').update(jcs(b)).digest('hex');
    const tagged = createHash('sha256').update('countersign/request/v1\0').update(jcs(b)).digest('hex');
    expect(requestDigest(b)).toBe(tagged);
    expect(requestDigest(b)).not.toBe(bare);
  });
});

describe('RFC 8785 canonicalization', () => {
  it('serializes numbers as ECMAScript does (RFC 8785 section 3.2.2.3 examples)', () => {
    expect(jcs([1e21, 1e-7, 0.000001, -0, 333333333.3333333, 9007199254740991, 1.0, 100])).toBe(
      '[1e+21,1e-7,0.000001,0,333333333.3333333,9007199254740991,1,100]',
    );
  });

  it('sorts keys by UTF-16 code units and keeps non-ASCII text unescaped (RFC 8785 section 3.2.3)', () => {
    const value = { '\u20ac': 'Euro', '\r': 'CR', '\ufb33': 'Hebrew', '1': 'One', '\ud83d\ude00': 'Emoji', '\u0080': 'Control', '\u00f6': 'Latin' };
    expect(jcs(value)).toBe('{"\\r":"CR","1":"One","\u0080":"Control","ö":"Latin","€":"Euro","😀":"Emoji","דּ":"Hebrew"}');
  });

  it('escapes only what JSON requires', () => {
    expect(jcs({ s: '\u0000\u001f"\\/\u2028é' })).toBe('{"s":"\\u0000\\u001f\\"\\\\/\u2028é"}');
  });

  it('refuses values JSON cannot carry, saying why when the canonicalizer says', () => {
    expect(() => jcs({ n: Number.NaN })).toThrow(/^value cannot be canonicalized as JSON: .+/);
    expect(() => jcs({ n: Number.POSITIVE_INFINITY })).toThrow(/^value cannot be canonicalized as JSON: .+/);
    // No JSON at all (undefined) has no further reason: the message ends there.
    expect(() => jcs(undefined)).toThrow(/^value cannot be canonicalized as JSON$/);
  });
});
