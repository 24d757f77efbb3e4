import { describe, expect, it, beforeAll } from 'vitest';
import fc from 'fast-check';
import { exportJWK, generateKeyPair } from 'jose';
import { GENESIS_HASH, computeEntryHash, createJwsSigner, jcs, requestDigest, verifyChain, type RequestBody, type AuditCheckpoint, type AuditEntry, type CheckpointSigner, type Json, type JsonObject } from '../../kernel/index.ts';
import { verifyBundle } from '../../gateway/audit/bundle.ts';
import { checkpointPayload, entryJcs, prepareInput } from '../../kernel/audit/entry.ts';

async function newSigner(kid?: string): Promise<CheckpointSigner> {
  const { privateKey, publicKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
  const jwk = (await exportJWK(publicKey)) as JsonObject;
  return createJwsSigner(privateKey, kid ? { ...jwk, kid } : jwk);
}

function buildChain(count: number, seed = 0): AuditEntry[] {
  const entries: AuditEntry[] = [];
  let prev = GENESIS_HASH;
  for (let seq = 1; seq <= count; seq++) {
    const base = {
      seq,
      at: new Date(Date.UTC(2025, 0, 1, 0, 0, seq)).toISOString(),
      kind: seq % 3 === 0 ? 'approval.decided' : 'request.received',
      requestId: seq % 2 === 0 ? `req_${seq + seed}` : null,
      actor: seq % 2 === 0 ? 'agent:a1' : 'kernel',
      data: { n: seq, tool: 'stripe_create_refund', args: { amount: 1200 + seq, note: 'ünïcödé ✓' } } as Json,
      prevHash: prev,
    };
    const entry = { ...base, hash: computeEntryHash(base) };
    entries.push(entry);
    prev = entry.hash;
  }
  return entries;
}

async function checkpointAt(signer: CheckpointSigner, entry: AuditEntry): Promise<AuditCheckpoint> {
  const at = '2025-02-01T00:00:00.000Z';
  return { seq: entry.seq, hash: entry.hash, at, signature: await signer.sign(checkpointPayload(entry.seq, entry.hash, at)) };
}

let signer: CheckpointSigner;
let chain: AuditEntry[];
let checkpoints: AuditCheckpoint[];
beforeAll(async () => {
  signer = await newSigner();
  chain = buildChain(20);
  checkpoints = [await checkpointAt(signer, chain[9]!), await checkpointAt(signer, chain[19]!)];
});

const copy = (entries: AuditEntry[]) => entries.map((e) => structuredClone(e));

describe('audit entry hashing', () => {
  it('builds the same canonical form as JCS over {seq, at, kind, requestId, actor, data}', () => {
    const json = fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.parse(JSON.stringify(v)) as Json);
    fc.assert(
      fc.property(fc.nat(), fc.date({ noInvalidDate: true }), fc.string(), fc.option(fc.string(), { nil: null }), fc.string(), json, (seq, date, kind, requestId, actor, data) => {
        const at = date.toISOString();
        expect(entryJcs(seq, at, kind, requestId, actor, jcs(data))).toBe(jcs({ seq, at, kind, requestId, actor, data }));
      }),
    );
  });

  it('refuses inputs the database would alter or reject, saying why', () => {
    expect(() => prepareInput({ kind: 'Request Received', actor: 'kernel' })).toThrow(/dotted lowercase/);
    expect(() => prepareInput({ kind: 'request.received', actor: '' })).toThrow(/actor/);
    expect(() => prepareInput({ kind: 'request.received', actor: 'kernel', data: { s: 'a\u0000b' } })).toThrow(/NUL/);
    expect(() => prepareInput({ kind: 'request.received', actor: 'kernel', data: { s: 'x\ud800' } })).toThrow(/not plain JSON/);
    expect(() => prepareInput({ kind: 'request.received', actor: 'kernel', data: { n: Number.NaN } })).toThrow(/not plain JSON/);
    // A backslash followed by "u0000" is ordinary text, not a NUL.
    expect(prepareInput({ kind: 'request.received', actor: 'kernel', data: { s: '\\u0000' } }).dataJcs).toBe('{"s":"\\\\u0000"}');
  });
});

describe('verifyChain', () => {
  it('accepts an intact chain and reports its head and last checkpoint', async () => {
    const result = await verifyChain(chain, checkpoints, [signer.publicJwk]);
    expect(result).toMatchObject({ ok: true, entries: 20, lastSeq: 20, head: chain[19]!.hash, lastCheckpoint: { seq: 20, kid: signer.kid } });
    expect(result.firstBad).toBeUndefined();
  });

  it('accepts an empty chain', async () => {
    expect(await verifyChain([], [], [signer.publicJwk])).toMatchObject({ ok: true, entries: 0, lastSeq: 0, head: GENESIS_HASH, lastCheckpoint: null });
  });

  const edits: [string, (e: AuditEntry) => void][] = [
    ['at', (e) => (e.at = '2030-01-01T00:00:00.000Z')],
    ['kind', (e) => (e.kind = 'approval.decided.x')],
    ['requestId', (e) => (e.requestId = 'req_forged')],
    ['actor', (e) => (e.actor = 'approver:mallory')],
    ['data', (e) => ((e.data as JsonObject).n = 999)],
    ['prevHash', (e) => (e.prevHash = 'f'.repeat(64))],
    ['hash', (e) => (e.hash = 'e'.repeat(64))],
  ];
  for (const [field, edit] of edits) {
    it(`detects an edited ${field} at that entry`, async () => {
      const tampered = copy(chain);
      edit(tampered[6]!);
      const result = await verifyChain(tampered, checkpoints, [signer.publicJwk]);
      expect(result.ok).toBe(false);
      expect(result.firstBad?.seq).toBe(7);
    });
  }

  it('detects a deleted entry at its seq', async () => {
    const tampered = chain.filter((e) => e.seq !== 5);
    const result = await verifyChain(tampered, checkpoints, [signer.publicJwk]);
    expect(result.firstBad).toEqual({ seq: 5, reason: expect.stringMatching(/entry 5 is missing/) });
  });

  it('detects reordered entries at the first position out of place', async () => {
    const tampered = copy(chain);
    [tampered[4], tampered[5]] = [tampered[5]!, tampered[4]!];
    expect((await verifyChain(tampered, checkpoints, [signer.publicJwk])).firstBad?.seq).toBe(5);
  });

  it('detects an entry whose seq was renumbered to close a gap', async () => {
    const tampered = copy(chain).filter((e) => e.seq !== 5);
    for (const e of tampered) if (e.seq > 5) e.seq--;
    expect((await verifyChain(tampered, checkpoints, [signer.publicJwk])).firstBad?.seq).toBe(5);
  });

  it('detects a truncated tail behind a checkpoint at the first missing seq', async () => {
    const result = await verifyChain(chain.slice(0, 15), checkpoints, [signer.publicJwk]);
    expect(result.firstBad).toEqual({ seq: 16, reason: expect.stringMatching(/16\.\.20 are missing/) });
    expect(result.lastCheckpoint?.seq).toBe(10);
  });

  it('cannot see a truncation that also removed the checkpoints behind it (the documented limit)', async () => {
    expect((await verifyChain(chain.slice(0, 15), checkpoints.slice(0, 1), [signer.publicJwk])).ok).toBe(true);
  });

  it('detects a rewritten chain at the checkpoint that covers it', async () => {
    const rewritten = copy(chain);
    (rewritten[2]!.data as JsonObject).n = 42;
    for (let i = 2; i < rewritten.length; i++) {
      rewritten[i]!.prevHash = i === 0 ? GENESIS_HASH : rewritten[i - 1]!.hash;
      rewritten[i]!.hash = computeEntryHash(rewritten[i]!);
    }
    expect((await verifyChain(rewritten, checkpoints, [signer.publicJwk])).firstBad).toEqual({ seq: 10, reason: expect.stringMatching(/different chain hash/) });
  });

  it('detects a checkpoint whose stored hash was changed after signing', async () => {
    const forged = [{ ...checkpoints[0]!, hash: chain[8]!.hash }, checkpoints[1]!];
    expect((await verifyChain(chain, forged, [signer.publicJwk])).firstBad).toEqual({ seq: 10, reason: expect.stringMatching(/differ from what was signed/) });
  });

  it('detects a checkpoint signed by an unknown key', async () => {
    const other = await newSigner();
    const forged = [checkpoints[0]!, await checkpointAt(other, chain[14]!)];
    expect((await verifyChain(chain, forged, [signer.publicJwk])).firstBad).toEqual({ seq: 15, reason: expect.stringMatching(/unknown key/) });
  });

  it('detects a checkpoint signed by another key claiming the kernel kid', async () => {
    const impostor = await newSigner(signer.kid);
    const forged = [await checkpointAt(impostor, chain[3]!), ...checkpoints];
    expect((await verifyChain(chain, forged, [signer.publicJwk])).firstBad).toEqual({ seq: 4, reason: expect.stringMatching(/does not verify/) });
  });

  it('detects a checkpoint that is not a JWS at all', async () => {
    const forged = [{ ...checkpoints[0]!, signature: 'not-a-jws' }];
    expect((await verifyChain(chain, forged, [signer.publicJwk])).firstBad?.seq).toBe(10);
  });

  it('detects a checkpoint with an unsigned algorithm ("none")', async () => {
    const unsigned = `${Buffer.from(JSON.stringify({ alg: 'none', kid: signer.kid })).toString('base64url')}.${Buffer.from(checkpointPayload(10, chain[9]!.hash, 'x')).toString('base64url')}.`;
    const forged = [{ seq: 10, hash: chain[9]!.hash, at: 'x', signature: unsigned }];
    expect((await verifyChain(chain, forged, [signer.publicJwk])).firstBad?.seq).toBe(10);
  });

  it('names the earliest problem when there are several', async () => {
    const tampered = copy(chain);
    tampered[12]!.actor = 'x';
    const forged = [{ ...checkpoints[0]!, signature: 'garbage' }, checkpoints[1]!];
    expect((await verifyChain(tampered, forged, [signer.publicJwk])).firstBad?.seq).toBe(10);
  });

  it('verifies a partial chain from a later start, trusting only its first prev_hash', async () => {
    const result = await verifyChain(chain.slice(9), checkpoints, [signer.publicJwk], { start: { seq: 10 } });
    expect(result).toMatchObject({ ok: true, entries: 11, lastSeq: 20 });
    expect((await verifyChain(chain.slice(10), checkpoints, [signer.publicJwk], { start: { seq: 10 } })).firstBad?.seq).toBe(10);
  });

  it('finds a random tampering at exactly the tampered entry (property)', async () => {
    const fields = ['at', 'kind', 'requestId', 'actor', 'data', 'prevHash', 'hash'] as const;
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 40 }), fc.nat(), fc.constantFrom(...fields), fc.string({ minLength: 1 }), async (length, pick, field, junk) => {
        const entries = buildChain(length, pick);
        const target = entries[pick % length]!;
        const before = target[field];
        if (field === 'data') target.data = { junk };
        else if (field === 'prevHash' || field === 'hash') target[field] = sha(junk);
        else if (field === 'kind') target.kind = `forged.${target.kind}`;
        else target[field] = `${String(before)}${junk}`;
        const result = await verifyChain(entries, [], [signer.publicJwk]);
        expect(result.ok).toBe(false);
        expect(result.firstBad?.seq).toBe(target.seq);
      }),
      { numRuns: 200 },
    );
  });
});

function sha(text: string): string {
  return computeEntryHash({ seq: 1, at: text, kind: 'x', requestId: null, actor: 'x', data: null, prevHash: GENESIS_HASH });
}

describe('verifyBundle', () => {
  function bundle(datas: [string, string, Json][]): string[] {
    let prevHash = GENESIS_HASH;
    const lines = [JSON.stringify({ format: 'countersign-audit-bundle/v1', createdAt: 'now', since: 1, kernelKeys: [], passkeys: [], devices: [] })];
    datas.forEach(([kind, requestId, data], i) => {
      const base = { seq: i + 1, at: 'now', kind, requestId, actor: 'kernel', data, prevHash };
      prevHash = computeEntryHash(base);
      lines.push(JSON.stringify({ type: 'entry', ...base, hash: prevHash }));
    });
    return lines;
  }
  const body = { tool: 't', args: { a: 1 }, pins: {}, principal: { agentId: 'a', agentName: 'a', owner: 'o@x' }, policyVersion: 'v', requestId: 'r1', nonce: 'n', expiresAt: 'e' } as RequestBody;

  it('hands each receipt the digest it recomputed from the request body', async () => {
    const lines = bundle([['request.received', 'r1', { digest: requestDigest(body), body } as unknown as Json], ['approval.decided', 'r1', { keyId: 'k' }], ['approval.decided', 'r2', {}]]);
    const seen: (string | null)[] = [];
    const result = await verifyBundle(lines, { verifyReceipt: async (_data, _header, digest) => (seen.push(digest), null) });
    expect(result).toMatchObject({ ok: true, entries: 3, receipts: 2 });
    expect(seen).toEqual([requestDigest(body), null]);
  });

  it('names a malformed line by the seq expected there, and refuses input that is not a bundle', async () => {
    const lines = bundle([['request.received', 'r1', {}], ['request.received', 'r2', {}]]);
    lines[2] = '{"type":"entry","seq":2';
    expect((await verifyBundle(lines)).firstBad).toEqual({ seq: 2, reason: expect.stringMatching(/^line 3: /) });
    await expect(verifyBundle(['{"format":"other"}'])).rejects.toThrow(/not a Countersign audit bundle/);
    await expect(verifyBundle([])).rejects.toThrow(/empty/);
  });
});
