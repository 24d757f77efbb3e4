import { describe, expect, it } from 'vitest';
import { createHash, generateKeyPairSync } from 'node:crypto';
import fc from 'fast-check';
import {
  EMPTY_ROOT,
  Frontier,
  TreeChecker,
  checkpointText,
  consistencyProof,
  createNoteSigner,
  frontierNodes,
  hashChildren,
  hashLeaf,
  inclusionProof,
  jcs,
  leafHash,
  openCheckpoint,
  openNote,
  rangeHash,
  verifyConsistency,
  verifyInclusion,
  type AuditEntry,
  type Json,
  type JsonObject,
} from '../../kernel/index.ts';
import { containsNul, entryJcs, prepareInput, storable } from '../../kernel/audit/entry.ts';
import { withNodes } from '../../kernel/audit/merkle.ts';
import { KernelError, verifierKeyOf } from '../../kernel/index.ts';

/** MTH of RFC 6962 section 2.1, written straight from the definition, to hold the stored-node version against. */
function referenceRoot(leaves: Buffer[]): Buffer {
  if (leaves.length === 0) return createHash('sha256').digest();
  if (leaves.length === 1) return leaves[0]!;
  let k = 1;
  while (k * 2 < leaves.length) k *= 2;
  return hashChildren(referenceRoot(leaves.slice(0, k)), referenceRoot(leaves.slice(k)));
}

const leavesOf = (n: number) => Array.from({ length: n }, (_, i) => hashLeaf(`leaf ${i}`));
/** Stored complete subtrees of a tree, as the sequencer would have written them. */
function nodesOf(leaves: Buffer[]) {
  const nodes = new Map<string, Buffer>();
  const frontier = new Frontier();
  leaves.forEach((leaf, i) => {
    nodes.set(`0/${i}`, leaf);
    frontier.push(leaf, (level, index, hash) => nodes.set(`${level}/${index}`, hash));
  });
  return (level: number, index: number) => nodes.get(`${level}/${index}`) ?? (() => { throw new Error(`no node ${level}/${index}`); })();
}

function signer(name = 'example.com/countersign/audit') {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return createNoteSigner(name, privateKey, publicKey.export({ format: 'jwk' }) as JsonObject);
}

describe('the Merkle tree (RFC 9162)', () => {
  it('hashes children as SHA-256(0x01 || left || right) whatever their lengths (a proof read from a file may hold any)', () => {
    const sha = (...parts: Buffer[]) => createHash('sha256').update(Buffer.concat(parts)).digest();
    for (const [l, r] of [[32, 32], [31, 32], [32, 33], [33, 31], [0, 64], [64, 0]] as const) {
      const [left, right] = [Buffer.alloc(l, 0xab), Buffer.alloc(r, 0xcd)];
      expect(hashChildren(left, right), `${l}+${r}`).toEqual(sha(Buffer.from([1]), left, right));
    }
  });

  it('has the RFC 6962 test-vector roots and the empty root', () => {
    const inputs = ['', '00', '10', '2021', '3031', '40414243', '5051525354555657', '606162636465666768696a6b6c6d6e6f'];
    const leaves = inputs.map((hex) => hashLeaf(Buffer.from(hex, 'hex')));
    expect(referenceRoot(leaves.slice(0, 1)).toString('hex')).toBe('6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d');
    expect(referenceRoot(leaves).toString('hex')).toBe('5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328');
    expect(EMPTY_ROOT.toString('hex')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    const frontier = new Frontier();
    leaves.forEach((leaf) => frontier.push(leaf));
    expect(frontier.root()).toEqual(referenceRoot(leaves));
  });

  it('gives every prefix the reference root, from stored nodes and from a resumed frontier', () => {
    const leaves = leavesOf(70);
    const node = nodesOf(leaves);
    for (let n = 0; n <= 70; n++) {
      expect(rangeHash(0, n, node)).toEqual(referenceRoot(leaves.slice(0, n)));
      const resumed = new Frontier(n, frontierNodes(n).map(([l, i]) => node(l, i)));
      for (const leaf of leaves.slice(n)) resumed.push(leaf);
      expect(resumed.root()).toEqual(referenceRoot(leaves));
    }
  });

  it('proves and verifies inclusion of every leaf in every tree size, and rejects a wrong leaf, index or root', () => {
    const leaves = leavesOf(33);
    const node = nodesOf(leaves);
    for (let n = 1; n <= 33; n++) {
      const root = referenceRoot(leaves.slice(0, n));
      for (let m = 0; m < n; m++) {
        const proof = inclusionProof(m, n, node);
        expect(proof.length).toBeLessThanOrEqual(Math.ceil(Math.log2(n)));
        expect(verifyInclusion(m, n, leaves[m]!, proof, root)).toBe(true);
        expect(verifyInclusion(m, n, leaves[(m + 1) % 33]!, proof, root)).toBe(false);
        if (n > 1) expect(verifyInclusion((m + 1) % n, n, leaves[m]!, proof, root)).toBe(false);
        expect(verifyInclusion(m, n, leaves[m]!, proof, EMPTY_ROOT)).toBe(false);
      }
    }
  });

  it('proves and verifies consistency between every pair of sizes, and rejects a fork', () => {
    const leaves = leavesOf(33);
    const forked = [...leaves];
    forked[5] = hashLeaf('a different leaf 5');
    const node = nodesOf(leaves);
    for (let n = 1; n <= 33; n++) {
      for (let m = 1; m <= n; m++) {
        const proof = consistencyProof(m, n, node);
        const [first, second] = [referenceRoot(leaves.slice(0, m)), referenceRoot(leaves.slice(0, n))];
        expect(verifyConsistency(m, n, first, second, proof)).toBe(true);
        if (m > 5) expect(verifyConsistency(m, n, referenceRoot(forked.slice(0, m)), second, proof)).toBe(false);
        if (m < n) expect(verifyConsistency(m, n, first, EMPTY_ROOT, proof)).toBe(false);
      }
    }
  });

  it('refuses proofs outside the tree: an index past its size, a consistency proof too long, too short or from a larger tree', () => {
    const leaves = leavesOf(8);
    const node = nodesOf(leaves);
    const root = (n: number) => referenceRoot(leaves.slice(0, n));
    // The last leaf's proof in a tree of 8, offered for index 8 (one past the end).
    expect(verifyInclusion(8, 8, leaves[7]!, inclusionProof(7, 8, node), root(8))).toBe(false);
    expect(verifyInclusion(-1, 8, leaves[0]!, inclusionProof(0, 8, node), root(8))).toBe(false);
    // The empty tree is a prefix of every tree, with an empty proof and no other.
    expect(verifyConsistency(0, 8, EMPTY_ROOT, root(8), [])).toBe(true);
    expect(verifyConsistency(0, 8, EMPTY_ROOT, root(8), [hashLeaf('x')])).toBe(false);
    expect(verifyConsistency(8, 3, root(8), root(3), consistencyProof(3, 8, node))).toBe(false);
    expect(verifyConsistency(3, 8, root(3), root(8), [])).toBe(false);
    const proof = consistencyProof(3, 8, node);
    expect(verifyConsistency(3, 8, root(3), root(8), [...proof, hashLeaf('extra')])).toBe(false);
  });

  it('hashes any range of leaves as MTH of that range, aligned or not', () => {
    const leaves = leavesOf(12);
    const node = nodesOf(leaves);
    for (let lo = 0; lo < 12; lo++) for (let hi = lo + 1; hi <= 12; hi++) expect(rangeHash(lo, hi, node)).toEqual(referenceRoot(leaves.slice(lo, hi)));
  });

  it('gives no consistency proof for sizes outside 1..n-1', () => {
    const node = nodesOf(leavesOf(8));
    expect([consistencyProof(0, 8, node), consistencyProof(8, 8, node), consistencyProof(9, 8, node)]).toEqual([[], [], []]);
  });

  it('refuses a proof stretched or cut to fit a root it does not prove', () => {
    const leaves = leavesOf(8);
    const node = nodesOf(leaves);
    const root = referenceRoot(leaves);
    const extra = hashLeaf('extra');
    const proof = inclusionProof(0, 8, node);
    // One more step past the root, to "prove" the leaf under a made-up root.
    expect(verifyInclusion(0, 8, leaves[0]!, [...proof, extra], hashChildren(extra, root))).toBe(false);
    expect(verifyInclusion(0, 8, leaves[0]!, [...proof, extra], hashChildren(root, extra))).toBe(false);
    // One step short, offered with the subtree root it does reach.
    expect(verifyInclusion(0, 8, leaves[0]!, proof.slice(0, 2), referenceRoot(leaves.slice(0, 4)))).toBe(false);
    // A leaf one past the end of a one-leaf tree, whose empty proof would otherwise "reach" the root.
    expect(verifyInclusion(1, 1, leaves[0]!, [], leaves[0]!)).toBe(false);
    expect(verifyInclusion(0, 1, leaves[0]!, [], leaves[0]!)).toBe(true);
    // Equal sizes need equal roots and no proof; a larger tree is never a prefix of a smaller one.
    expect(verifyConsistency(8, 8, root, root, [extra])).toBe(false);
    const a = hashLeaf('a');
    expect(verifyConsistency(3, 2, a, hashChildren(a, extra), [a, extra])).toBe(false);
    // A larger size signed over the smaller tree's root: a proof that runs out before the larger tree's top (sn left
    // above 0) proves nothing, even though both roots "match" what it computed.
    const two = referenceRoot(leaves.slice(0, 2));
    expect(verifyConsistency(1, 2, leaves[0]!, two, [leaves[1]!])).toBe(true);
    expect(verifyConsistency(1, 4, leaves[0]!, two, [leaves[1]!])).toBe(false);
    expect(verifyConsistency(2, 8, two, hashChildren(two, extra), [extra])).toBe(false);
  });

  it('has the empty root before any leaf, and reads stored nodes in one fetch (withNodes), naming a missing one', async () => {
    expect(new Frontier().root()).toEqual(EMPTY_ROOT);
    const leaves = leavesOf(8);
    const node = nodesOf(leaves);
    const fetched: [number, number][][] = [];
    const fetch = async (wanted: [number, number][]) => (fetched.push(wanted), new Map(wanted.map(([l, i]) => [`${l}/${i}`, node(l, i)])));
    expect(await withNodes((n) => inclusionProof(5, 8, n), fetch)).toEqual(inclusionProof(5, 8, node));
    expect(fetched).toHaveLength(1);
    await expect(withNodes((n) => inclusionProof(5, 8, n), async () => new Map())).rejects.toThrow(/^tree node \d+\/\d+ is missing from the store$/);
  });

  it('refuses to resume a frontier whose hashes do not fit its size, saying how many it needs', () => {
    expect(() => new Frontier(3, [hashLeaf('a')])).toThrow('a tree of 3 leaves has 2 frontier hashes, got 1');
  });

  it('reads O(log n) stored nodes for a proof in a tree of a billion leaves', () => {
    const reads: string[] = [];
    const node = (level: number, index: number) => (reads.push(`${level}/${index}`), hashLeaf(`${level}/${index}`));
    expect(inclusionProof(123_456_789, 1_000_000_007, node).length).toBeLessThanOrEqual(30);
    expect(reads.length).toBeLessThanOrEqual(60);
  });
});

describe('signed notes and checkpoints (C2SP)', () => {
  it('opens every note it signed, whatever its lines (blank ones included)', () => {
    const s = signer();
    const line = fc.constantFrom('', 'a', '42', '\u2014 example.com/countersign/audit AAAA', 'ünïcödé ✓');
    fc.assert(fc.property(fc.array(line, { minLength: 1, maxLength: 5 }), (lines) => {
      const text = lines.map((l) => `${l}\n`).join('');
      expect(openNote(s.sign(text), s.verifierKey)).toEqual({ text });
    }));
  });

  it('reads signatures only after the last blank line: a signature line inside the text is text', () => {
    const s = signer();
    const fake = Buffer.concat([Buffer.from(s.verifierKey.split('+')[1]!, 'hex'), Buffer.alloc(64)]).toString('base64');
    const text = `example.com/countersign/audit\n\n\u2014 ${s.name} ${fake}\nlast\n`;
    expect(openNote(s.sign(text), s.verifierKey)).toEqual({ text });
  });

  it('refuses a note that is not one, and a verifier key that is not one, saying which', () => {
    const s = signer();
    const note = s.sign('example.com/countersign/audit\n1\n');
    expect(openNote('no blank line\n', s.verifierKey)).toEqual({ error: 'not a signed note: expected text, a blank line and signature lines' });
    expect(openNote(note.slice(0, -1), s.verifierKey)).toEqual({ error: 'not a signed note: expected text, a blank line and signature lines' });
    const [name, hash, key] = [s.name, s.verifierKey.split('+')[1]!, s.verifierKey.split('+').slice(2).join('+')];
    const raw = Buffer.from(key, 'base64');
    const badKeys = [
      `+${hash}+${key}`, // no name
      `${name}++${key}`, // no key hash
      `${name}+${hash}+${raw.subarray(0, 32).toString('base64')}`, // a key one byte short
      `${name}+${hash}+${Buffer.concat([Buffer.from([2]), raw.subarray(1)]).toString('base64')}`, // not an Ed25519 key (type byte)
      `${name}+00000000+${key}`, // a key hash that does not match the key
      `other+${hash}+${key}`, // the hash covers the name too
    ];
    // The message quotes the key, cut at 80 characters (a key is about 90: whoever pasted it sees which one it was).
    for (const bad of badKeys) expect(openNote(note, bad), bad).toEqual({ error: `not an Ed25519 verifier key "name+hash+key": ${bad.slice(0, 80)}` });
    expect(badKeys.some((bad) => bad.length > 80)).toBe(true);
    expect(openNote(note, s.verifierKey)).toEqual({ text: 'example.com/countersign/audit\n1\n' });
  });

  it('opens a note that carries other signatures before its own (a witness, another key of the same name, malformed lines)', () => {
    const s = signer();
    const text = 'example.com/countersign/audit\n7\n';
    const ours = s.sign(text).slice(text.length + 1);
    const hash = Buffer.from(s.verifierKey.split('+')[1]!, 'hex');
    const witness = signer('witness.example/w').sign(text).slice(text.length + 1);
    const sameName = signer().sign(text).slice(text.length + 1); // another key named like ours: its key hash differs
    const short = `\u2014 ${s.name} ${Buffer.concat([hash, Buffer.alloc(10)]).toString('base64')}\n`;
    const hyphen = `- ${s.name} ${Buffer.concat([hash, Buffer.alloc(64)]).toString('base64')}\n`;
    const otherName = `\u2014 witness.example/w ${Buffer.concat([hash, Buffer.alloc(64)]).toString('base64')}\n`;
    for (const other of [witness, sameName, short, hyphen, otherName]) {
      expect(openNote(`${text}\n${other}${ours}`, s.verifierKey), other).toEqual({ text });
    }
    expect(openNote(`${text}\n${witness}${sameName}`, s.verifierKey)).toEqual({ error: `the note carries no signature by ${s.name} (key ${hash.toString('hex')})` });
  });

  it('refuses a verifier key whose hash matches but whose key is not one Ed25519 key', () => {
    const s = signer();
    const key = Buffer.from(s.verifierKey.split('+').slice(2).join('+'), 'base64').subarray(1);
    const note = s.sign('example.com/countersign/audit\n1\n');
    // A verifier key written consistently (its hash over its own name and bytes) around bytes that are not an Ed25519 key.
    const made = (name: string, type: number, bytes: Buffer) =>
      `${name}+${createHash('sha256').update(`${name}\n`).update(Buffer.from([1])).update(bytes).digest().subarray(0, 4).toString('hex')}+${Buffer.concat([Buffer.from([type]), bytes]).toString('base64')}`;
    for (const bad of [made('', 1, key), made(s.name, 1, key.subarray(0, 31)), made(s.name, 2, key)]) {
      expect(openNote(note, bad), bad).toEqual({ error: `not an Ed25519 verifier key "name+hash+key": ${bad.slice(0, 80)}` });
    }
    expect(made(s.name, 1, key)).toBe(s.verifierKey);
  });

  it('reads a checkpoint only with a plain tree size and a canonical 32-byte root', () => {
    const s = signer();
    const root = hashLeaf('x').toString('base64');
    const open = (size: string, rootLine = root) => openCheckpoint(s.sign(`${s.name}\n${size}\n${rootLine}\n`), s.verifierKey);
    expect(open('1234')).toMatchObject({ size: 1234 });
    expect(open('0')).toMatchObject({ size: 0 });
    const refused = { error: `not a checkpoint of log ${s.name}: expected origin, tree size and base64 root hash lines` };
    for (const size of ['042', 'x42', '42x', '12345678901234567', '-1', '']) expect(open(size), size).toEqual(refused);
    expect(open('1', hashLeaf('x').subarray(0, 31).toString('base64'))).toEqual(refused);
    expect(open('1', root.replace(/=$/, ''))).toEqual(refused);
  });

  it('names its log with one word and signs only with an Ed25519 key', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const jwk = publicKey.export({ format: 'jwk' }) as JsonObject;
    for (const name of ['two words', 'name+plus', ' leading', 'trailing ', '']) {
      expect(() => createNoteSigner(name, privateKey, jwk), name).toThrow(KernelError);
      expect(() => createNoteSigner(name, privateKey, jwk), name).toThrow(`a log origin is one word without spaces or "+", got ${JSON.stringify(name)}`);
    }
    expect(createNoteSigner('example.com/log', privateKey, jwk).name).toBe('example.com/log');
    const p256 = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' }) as JsonObject;
    expect(() => verifierKeyOf('log', p256)).toThrow('the audit log signs with an Ed25519 key');
    expect(() => verifierKeyOf('log', { ...jwk, x: 42 })).toThrow('the audit log signs with an Ed25519 key');
  });

  it("opens the Go sumdb/note example note with Go's verifier key", () => {
    const vkey = 'PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW';
    const text = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
    const note = `${text}\n\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n`;
    expect(openNote(note, vkey)).toEqual({ text });
    expect(openNote(note.replace('cryptography', 'cryptograph'), vkey)).toEqual({ error: expect.stringMatching(/changed after signing/) });
  });

  it('signs checkpoints that open with the verifier key and no other', () => {
    const s = signer();
    const root = hashLeaf('x');
    const note = s.sign(checkpointText(s.name, 42, root));
    expect(note).toMatch(/^example\.com\/countersign\/audit\n42\n[A-Za-z0-9+/]{43}=\n\n\u2014 example\.com\/countersign\/audit [A-Za-z0-9+/]{91}=\n$/);
    expect(openCheckpoint(note, s.verifierKey)).toMatchObject({ size: 42, root });
    expect(openCheckpoint(note, signer().verifierKey)).toEqual({ error: expect.stringMatching(/no signature by|does not verify/) });
    expect(openCheckpoint(note.replace('\n42\n', '\n43\n'), s.verifierKey)).toEqual({ error: expect.stringMatching(/changed after signing/) });
    const other = signer('other.example/log');
    expect(openCheckpoint(other.sign(checkpointText('example.com/countersign/audit', 42, root)), other.verifierKey)).toEqual({ error: expect.stringMatching(/not a checkpoint of log/) });
  });
});

function entries(n: number): AuditEntry[] {
  return Array.from({ length: n }, (_, i) => {
    const base = { seq: i + 1, at: new Date(Date.UTC(2025, 0, 1, 0, 0, i)).toISOString(), kind: 'request.received', requestId: `req_${i}`, actor: 'agent:a1', data: { n: i, note: 'ünïcödé ✓' } as Json };
    return { ...base, hash: leafHash(base).toString('hex') };
  });
}

describe('TreeChecker', () => {
  const s = signer();
  const log = entries(20);
  const frontier = new Frontier();
  const roots: Buffer[] = [EMPTY_ROOT];
  for (const e of log) (frontier.push(Buffer.from(e.hash, 'hex')), roots.push(frontier.root()));
  const checkpoint = (size: number) => s.sign(checkpointText(s.name, size, roots[size]!));
  const run = (list: AuditEntry[], notes: string[]) => {
    const checker = new TreeChecker([s.verifierKey]);
    for (const note of notes) checker.checkpoint(note);
    for (const e of list) if (!checker.entry(e)) break;
    return checker.finish();
  };

  it('accepts an intact log and names the largest checkpoint it matched', () => {
    expect(run(log, [checkpoint(10), checkpoint(20)])).toMatchObject({ ok: true, entries: 20, size: 20, root: roots[20]!.toString('hex'), checkpoint: { size: 20 } });
  });

  it('names an edited entry, a deleted one, a truncated tail and a rewrite', () => {
    const edited = log.map((e) => ({ ...e }));
    edited[6] = { ...edited[6]!, data: { n: 999 } };
    expect(run(edited, [checkpoint(20)]).firstBad).toEqual({ seq: 7, reason: expect.stringMatching(/entry 7 was edited/) });
    expect(run([...log.slice(0, 6), ...log.slice(7)], [checkpoint(20)]).firstBad).toEqual({ seq: 7, reason: expect.stringMatching(/entry 7 is missing/) });
    expect(run(log.slice(0, 15), [checkpoint(20)]).firstBad).toEqual({ seq: 16, reason: expect.stringMatching(/16\.\.20 are missing.*truncated/) });
    // A rewrite that also fixes the stored leaf hash is caught by the signed root.
    const rewritten = log.map((e) => (e.seq === 3 ? { ...e, actor: 'approver:mallory', hash: leafHash({ ...e, actor: 'approver:mallory' }).toString('hex') } : e));
    expect(run(rewritten, [checkpoint(10)]).firstBad).toEqual({ seq: 10, reason: expect.stringMatching(/another root.*rewritten/) });
  });

  it('refuses a checkpoint signed by another key, naming it at the size it claims', () => {
    const mallory = signer();
    expect(run(log, [mallory.sign(checkpointText(s.name, 20, roots[20]!))]).firstBad).toEqual({ seq: 20, reason: expect.stringMatching(/^checkpoint: /) });
    // Not a note at all: no size to read, so it is named at the first entry still to come.
    expect(run(log, ['not a checkpoint']).firstBad).toEqual({ seq: 1, reason: expect.stringMatching(/^checkpoint: not a signed note/) });
    // Its size is read from its second line only.
    expect(run(log, ['not a checkpoint\nat all\n7\n']).firstBad).toMatchObject({ seq: 1 });
    expect(new TreeChecker([]).checkpoint(checkpoint(1))).toBeNull();
    const none = new TreeChecker([]);
    none.checkpoint(checkpoint(1));
    expect(none.finish().firstBad).toEqual({ seq: 1, reason: 'checkpoint: no verifier key for this log is known' });
  });

  it("accepts checkpoints by any of the log's keys (a rotated key), whichever is listed first", () => {
    const old = signer();
    const checker = new TreeChecker([s.verifierKey, old.verifierKey]);
    checker.checkpoint(checkpoint(20));
    checker.checkpoint(old.sign(checkpointText(old.name, 10, roots[10]!)));
    for (const e of log) checker.entry(e);
    expect(checker.finish()).toMatchObject({ ok: true, checkpoint: { size: 20 } });
  });

  it('names the earliest problem even when a later one was found first, and stops at a gap', () => {
    const edited = log.map((e) => (e.seq === 7 ? { ...e, data: { n: 999 } } : e));
    expect(run(edited, [signer().sign(checkpointText(s.name, 15, roots[15]!))]).firstBad).toEqual({ seq: 7, reason: expect.stringMatching(/entry 7 was edited/) });
    const gap = run([...log.slice(0, 6), ...log.slice(7)], []);
    expect(gap).toMatchObject({ ok: false, entries: 6, size: 6, firstBad: { seq: 7, reason: 'entry 7 is missing (next found is 8)' } });
    const repeated = run([...log.slice(0, 5), log[4]!, ...log.slice(5)], []);
    expect(repeated).toMatchObject({ entries: 5, firstBad: { seq: 6, reason: 'entry 5 is out of order (after 5)' } });
    // Of two checkpoints past the end, the truncation is named up to the smaller.
    expect(run(log.slice(0, 15), [checkpoint(20), checkpoint(18)]).firstBad).toEqual({ seq: 16, reason: expect.stringMatching(/^entries 16\.\.18 are missing/) });
  });

  it('leaves alone a checkpoint for a size the check has already passed', () => {
    const checker = new TreeChecker([s.verifierKey]);
    for (const e of log) checker.entry(e);
    expect(checker.checkpoint(checkpoint(10))).toMatchObject({ size: 10 });
    expect(checker.finish()).toMatchObject({ ok: true, entries: 20 });
  });
});

describe('audit entries', () => {
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
    // The entry's place in a batch is named, so a caller appending many knows which one to fix.
    expect(() => prepareInput({ kind: 'request.received', actor: '' }, 3)).toThrow(/^audit entry #3: actor/);
    for (const input of [null, 'request.received', 42]) expect(() => prepareInput(input as never, 1)).toThrow('audit entry #1 must be an object {kind, actor, requestId?, data?}');
    expect(() => prepareInput({ kind: 42, actor: 'kernel' } as never)).toThrow(/kind 42 must be dotted lowercase words/);
    expect(() => prepareInput({ actor: 'kernel' } as never)).toThrow(/kind undefined must be dotted lowercase words/);
    expect(() => prepareInput({ kind: 'request.received', actor: 7 } as never)).toThrow(/actor must be a non-empty string/);
    // Lengths up to the column sizes are kept; one more is refused.
    expect(prepareInput({ kind: `k${'a'.repeat(99)}`, actor: 'a'.repeat(300) }).kind).toHaveLength(100);
    expect(() => prepareInput({ kind: `k${'a'.repeat(100)}`, actor: 'kernel' })).toThrow(/dotted lowercase/);
    expect(() => prepareInput({ kind: 'request.received', actor: 'a'.repeat(301) })).toThrow(/actor must be/);
    for (const requestId of ['', 42]) {
      expect(() => prepareInput({ kind: 'request.received', actor: 'kernel', requestId } as never)).toThrow('audit entry #0: requestId must be a non-empty string or null');
    }
    expect(prepareInput({ kind: 'request.received', actor: 'kernel', requestId: 'req_1' }).requestId).toBe('req_1');
    expect(prepareInput({ kind: 'request.received', actor: 'kernel' }).requestId).toBeNull();
    // The actor and request id are hashed too: a lone surrogate there is refused like one in the data.
    expect(() => prepareInput({ kind: 'request.received', actor: 'agent:\ud800' })).toThrow(/not plain JSON/);
    expect(() => prepareInput({ kind: 'request.received', actor: 'kernel', requestId: 'req_\udc00' })).toThrow(/not plain JSON/);
    // A backslash followed by "u0000" is ordinary text, not a NUL.
    expect(prepareInput({ kind: 'request.received', actor: 'kernel', data: { s: '\\u0000' } }).dataJcs).toBe('{"s":"\\\\u0000"}');
  });
});

describe('containsNul (what the database cannot store)', () => {
  it('finds a NUL or a lone surrogate anywhere in a JSON value, and nothing in text that only spells one', () => {
    expect(containsNul({ a: ['x', { b: 'y\u0000' }] })).toBe(true);
    expect(containsNul(['\ud83d'])).toBe(true);
    expect(containsNul({ s: '\\u0000', emoji: '😀' })).toBe(false);
    expect(containsNul(undefined)).toBe(false);
  });

  it('storable replaces each NUL and lone surrogate, in values and keys, with U+FFFD and leaves everything else as it was', () => {
    const hostile = { 'k\u0000': ['a\u0000\u0000b', '\ud83d', 'x\udfff\ud800y', '\\\u0000', '\\u0000 is text', '😀'], n: 1, ok: true, none: null };
    const clean = storable(hostile);
    expect(clean).toEqual({ 'k\ufffd': ['a\ufffd\ufffdb', '\ufffd', 'x\ufffd\ufffdy', '\\\ufffd', '\\u0000 is text', '😀'], n: 1, ok: true, none: null });
    expect(containsNul(clean)).toBe(false);
    expect(prepareInput({ kind: 'execution.succeeded', actor: 'kernel', data: clean }).data).toEqual(clean);
    // Clean values are returned as they are, not copied: the hot path pays one scan.
    const plain = { text: 'nothing to replace', emoji: '😀' };
    expect(storable(plain)).toBe(plain);
  });
});
