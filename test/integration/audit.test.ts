import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { sql } from 'drizzle-orm';
import { generateKeyPairSync } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { drizzle } from 'drizzle-orm/pglite';
import { migrate as runMigrations } from 'drizzle-orm/pglite/migrator';
import { PGlite } from '@electric-sql/pglite';
import { freshDatabase } from '../support/db.ts';
import { MIGRATIONS_DIR, migrate, type Database } from '../../gateway/db.ts';
import {
  Frontier,
  consistencyProof,
  createAuditLog,
  createNoteSigner,
  entryJcs,
  inclusionProof,
  overStoredTree,
  readCheckpoints,
  jcs,
  readEntries,
  sha256Hex,
  verifyStored,
  type AuditLog,
  type Db,
  type JsonObject,
  type NoteSigner,
} from '../../kernel/index.ts';
import { exportBundle, exportReceipt } from '../../gateway/audit/bundle.ts';
import { verifyExport } from '../../gateway/audit/offline.ts';

let database: Database;
let db: Db;
let signer: NoteSigner;

function newSigner(): NoteSigner {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return createNoteSigner('test.example/countersign/audit', privateKey, publicKey.export({ format: 'jwk' }) as JsonObject);
}

beforeAll(async () => {
  database = await freshDatabase();
  db = database.db;
  signer = newSigner();
});
afterAll(async () => database?.close());

const logs: AuditLog[] = [];
const open = (options = {}) => {
  const log = createAuditLog(db, signer, { idleMs: 50, ...options });
  logs.push(log);
  return log;
};
beforeEach(async () => {
  await Promise.all(logs.splice(0).map((log) => log.close()));
  for (const table of ['audit_entries', 'audit_tree', 'audit_tree_heads', 'audit_queue']) await db.execute(sql.raw(`delete from ${table}`));
});

const entry = (n: number, kind = 'request.received') => ({ kind, requestId: `req_${n}`, actor: 'agent:a1', data: { n, args: { amount: n * 100 } } });
const rows = async <T>(query: ReturnType<typeof sql>) => {
  const result = (await db.execute(query)) as unknown as T[] | { rows: T[] };
  return Array.isArray(result) ? result : result.rows;
};
async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

describe('audit log: queue and sequencer', () => {
  it('queues nothing when the caller transaction rolls back, and sequences what commits', async () => {
    const audit = open();
    await expect(
      db.transaction(async (tx) => {
        await audit.append([entry(1)], tx as unknown as Db);
        throw new Error('state change failed');
      }),
    ).rejects.toThrow('state change failed');
    await db.transaction(async (tx) => {
      await tx.execute(sql`select 1`);
      await audit.append([entry(2), entry(3)], tx as unknown as Db);
    });
    const head = await audit.sync();
    expect(head).toMatchObject({ size: 2 });
    expect((await collect(readEntries(db))).map((e) => [e.seq, e.requestId])).toEqual([[1, 'req_2'], [2, 'req_3']]);
    expect(await verifyStored(db, [signer.verifierKey])).toMatchObject({ ok: true, size: 2, checkpoint: { size: 2 } });
  });

  it('refuses a tx argument that is not a transaction', async () => {
    await expect(open().append([entry(1)], db)).rejects.toThrow(/transaction handle/);
  });

  it('integrates on its own within a second, signing one checkpoint per batch', async () => {
    const audit = open();
    await audit.append([entry(1)]);
    const started = Date.now();
    while ((await rows<{ n: number }>(sql`select count(*)::int as n from audit_entries`))[0]!.n < 1) {
      expect(Date.now() - started).toBeLessThan(10_000);
      await new Promise((r) => setTimeout(r, 20));
    }
    const [head] = await rows<{ note: string }>(sql`select note from audit_tree_heads`);
    expect(head!.note).toMatch(/^test\.example\/countersign\/audit\n1\n/);
  });

  it('runs one batch for the appends of one kick interval, and goes on at once after a full batch', async () => {
    // No idle polling: only the appends' kick may start a batch. Each checkpoint says how large the tree was then.
    const sizes: number[] = [];
    const checkpointed = (n: number) => new Promise<void>((done) => {
      const timer = setInterval(() => sizes.length >= n && (clearInterval(timer), done()), 5);
    });
    const audit = open({ idleMs: 3_600_000, kickMs: 500, maxBatch: 4, onCheckpoint: (c: { size: number }) => sizes.push(c.size) });
    // A new log runs one round at once: integrating a first entry with sync() (its round is queued behind that one)
    // makes sure it has ended. The first entry's kick is still pending, 500 ms away.
    await audit.append([entry(0)]);
    await audit.sync();
    sizes.length = 0;
    await audit.append([entry(1)]);
    await audit.append([entry(2)]);
    await audit.append([entry(3)]);
    await checkpointed(1);
    // Three appends, one batch: the sequencer did not poll between them.
    expect(sizes).toEqual([4]);
    // Ten entries with batches of four: one kick, then it goes on while its batches are full (4, 4, then 2).
    await audit.append(Array.from({ length: 10 }, (_, i) => entry(10 + i)));
    await checkpointed(4);
    expect(sizes).toEqual([4, 8, 12, 14]);
  });

  it('makes writers wait for the sequencer when its last batch was over maxBacklog, and not otherwise', async () => {
    // No idle polling and a kick that never fires: a batch runs only for sync() or because admit() asked for one.
    const audit = open({ idleMs: 3_600_000, kickMs: 3_600_000, maxBacklog: 5 });
    const integrated = async () => (await rows<{ n: number }>(sql`select count(*)::int as n from audit_entries`))[0]!.n;
    const admittedAt = () => audit.admit().then(integrated);
    const queue = (from: number, count: number) => db.transaction(async (tx) => audit.append(Array.from({ length: count }, (_, i) => entry(from + i)), tx as never));
    await audit.sync(); // the first round has run (empty): not behind
    await queue(0, 2);
    expect(await admittedAt()).toBe(0); // not behind: admitted at once, the two entries still queued
    await audit.sync();
    // Six entries integrated in one batch: more than five, so the log is behind, and the next writer waits for the
    // batch its admission starts, which takes what was queued meanwhile.
    await queue(2, 6);
    await audit.sync();
    await queue(8, 2);
    expect(await admittedAt()).toBe(10);
    // That batch held two entries: no longer behind, so the next writer goes straight through.
    await queue(10, 1);
    expect(await admittedAt()).toBe(10);
    await audit.close();
  });

  it('makes one gapless tree from many concurrent appends by two logs (two sequencers) on one database', async () => {
    const [first, second] = [open(), open()];
    const calls = Array.from({ length: 200 }, (_, i) =>
      i % 3 === 0
        ? db.transaction(async (tx) => (i % 2 ? first : second).append([entry(i), entry(i, 'policy.decided')], tx as unknown as Db))
        : (i % 2 ? first : second).append([entry(i)]),
    );
    await Promise.all(calls);
    await first.sync();
    await second.sync();
    const total = 200 + Math.ceil(200 / 3);
    const seqs = (await collect(readEntries(db))).map((e) => e.seq);
    expect(seqs).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    expect(await verifyStored(db, [signer.verifierKey])).toMatchObject({ ok: true, entries: total, checkpoint: { size: total } });
  });

  it('stores text that PostgreSQL array literals and JSON treat specially exactly as appended', async () => {
    const audit = open();
    const awkward = ['NULL', '"', '\\', '\\"', '{a,b}', ' lead', 'tail ', '', 'é😀\u202e', '\\u0000', "it's"];
    await db.transaction(async (tx) => audit.append(awkward.map((s, n) => ({ kind: 'request.received', requestId: s || null, actor: `agent:${s}x`, data: { s, n } })), tx as unknown as Db));
    await audit.append([{ kind: 'request.viewed', actor: 'web', requestId: 'NULL', data: { list: awkward } }]);
    await audit.sync();
    const stored = await collect(readEntries(db));
    expect(stored.map((e) => [e.requestId, e.actor, e.data])).toEqual([
      ...awkward.map((s, n) => [s || null, `agent:${s}x`, { s, n }]),
      ['NULL', 'web', { list: awkward }],
    ]);
    expect(await verifyStored(db, [signer.verifierKey])).toMatchObject({ ok: true, entries: awkward.length + 1 });
  });

  it('serves the same proofs from the stored tree (inner nodes below level 6 re-hashed from leaves) as from all the leaves', async () => {
    const audit = open({ maxBatch: 37 });
    for (let i = 0; i < 300; i += 10) await audit.append(Array.from({ length: 10 }, (_, k) => entry(i + k)));
    await audit.sync();
    const leaves = (await collect(readEntries(db))).map((e) => Buffer.from(e.hash, 'hex'));
    expect(leaves).toHaveLength(300);
    // Every complete subtree, computed in memory from the leaves alone.
    const levels: Buffer[][] = [leaves];
    const all = new Frontier();
    for (const leaf of leaves) all.push(leaf, (level, index, hash) => ((levels[level] ??= [])[index] = hash));
    const node = (level: number, index: number) => levels[level]![index]!;
    const sizes = (await readCheckpoints(db)).map((c) => c.size);
    expect(sizes.length).toBeGreaterThan(5);
    for (const [m, n] of [[0, 300], [63, 300], [64, 300], [129, 257], [299, 300], [5, 70]] as const) {
      expect(await overStoredTree(db, (stored) => inclusionProof(m, n, stored))).toEqual(inclusionProof(m, n, node));
    }
    for (const [m, n] of [[sizes[0]!, 300], [sizes[2]!, sizes[4]!], [1, 300], [64, 200], [100, 300]] as const) {
      expect(await overStoredTree(db, (stored) => consistencyProof(m, n, stored))).toEqual(consistencyProof(m, n, node));
    }
    // Only nodes from level 6 up are stored: 300 leaves close four 64-leaf subtrees, two 128 and one 256.
    expect((await rows<{ level: number }>(sql`select level from audit_tree order by level, idx`)).map((r) => r.level)).toEqual([6, 6, 6, 6, 7, 7, 8]);
  });

  describe('verification after raw SQL tampering', () => {
    beforeEach(async () => {
      const audit = open();
      for (let batch = 0; batch < 3; batch++) {
        await audit.append(Array.from({ length: 10 }, (_, i) => entry(batch * 10 + i + 1)));
        await audit.sync();
      }
      expect((await verifyStored(db, [signer.verifierKey])).ok).toBe(true);
    });

    it('names an edited entry', async () => {
      await db.execute(sql`update audit_entries set data = jsonb_set(data::jsonb, '{args,amount}', '1') where seq = 17`);
      expect((await verifyStored(db, [signer.verifierKey])).firstBad).toEqual({ seq: 17, reason: expect.stringMatching(/entry 17 was edited/) });
    });

    it('catches an edit whose leaf hash was recomputed too, at the checkpoint covering it', async () => {
      const [row] = await rows<{ at: string; kind: string; request_id: string; actor: string }>(sql`select at, kind, request_id, actor from audit_entries where seq = 17`);
      const { createHash } = await import('node:crypto');
      const leaf = createHash('sha256').update(Buffer.from([0])).update(entryJcs(17, row!.at, row!.kind, row!.request_id, 'approver:mallory', jcs({ n: 17, args: { amount: 1700 } }))).digest('hex');
      await db.execute(sql`update audit_entries set actor = 'approver:mallory', leaf_hash = ${leaf} where seq = 17`);
      expect((await verifyStored(db, [signer.verifierKey])).firstBad).toEqual({ seq: 20, reason: expect.stringMatching(/another root.*rewritten/) });
    });

    it('names a deleted entry and swapped entries', async () => {
      await db.execute(sql`delete from audit_entries where seq = 12`);
      expect((await verifyStored(db, [signer.verifierKey])).firstBad).toEqual({ seq: 12, reason: expect.stringMatching(/missing/) });
    });

    it('names the first missing entry of a truncated tail behind a checkpoint', async () => {
      await db.execute(sql`delete from audit_entries where seq > 24`);
      expect((await verifyStored(db, [signer.verifierKey])).firstBad).toEqual({ seq: 25, reason: expect.stringMatching(/truncated/) });
    });

    it('names a checkpoint edited after signing', async () => {
      await db.execute(sql`update audit_tree_heads set note = replace(note, E'\n20\n', E'\n21\n') where size = 20`);
      expect((await verifyStored(db, [signer.verifierKey])).firstBad?.reason).toMatch(/checkpoint: .*changed after signing/);
    });
  });
});

describe('migration 0007: an existing hash chain becomes the first leaves', () => {
  it('adopts the chain of an upgraded install, records that it verified, and keeps verifying', async () => {
    // A database at migration 0005, with a chain written the old way, then upgraded.
    const folder = mkdtempSync(join(tmpdir(), 'cs-migrations-'));
    cpSync(MIGRATIONS_DIR, folder, { recursive: true });
    const journal = JSON.parse(readFileSync(join(folder, 'meta/_journal.json'), 'utf8')) as { entries: { tag: string }[] };
    writeFileSync(join(folder, 'meta/_journal.json'), JSON.stringify({ ...journal, entries: journal.entries.filter((e) => e.tag <= '0005') }));
    const client = new PGlite();
    const old = drizzle(client);
    await runMigrations(old, { migrationsFolder: folder });
    let prev = '0'.repeat(64);
    for (let seq = 1; seq <= 12; seq++) {
      const at = new Date(Date.UTC(2025, 0, 1, 0, 0, seq)).toISOString();
      const data = { n: seq, note: 'ünïcödé' };
      const hash = sha256Hex(prev, entryJcs(seq, at, 'request.received', `req_${seq}`, 'agent:a1', jcs(data)));
      await old.execute(sql`insert into audit_entries (seq, at, kind, request_id, actor, data, prev_hash, hash)
        values (${seq}, ${at}, 'request.received', ${`req_${seq}`}, 'agent:a1', ${JSON.stringify(data)}::jsonb, ${prev}, ${hash})`);
      prev = hash;
    }
    await old.execute(sql`insert into approvers (id, email, roles) values ('ap_1', 'jane@example.com', '[]')`);
    await old.execute(sql`insert into passkeys (id, approver_id, public_key) values ('cred_1', 'ap_1', 'pQECAyYgASFYIA')`);
    const upgraded = { db: old as unknown as Db, kind: 'pglite' as const, location: 'memory', listen: async () => async () => {}, notify: async () => {}, close: () => client.close() };
    await migrate(upgraded);
    const audit = createAuditLog(upgraded.db, signer);
    await audit.sync();
    await audit.append([entry(13)]);
    await audit.sync();
    const all = await collect(readEntries(upgraded.db));
    expect(all.map((e) => e.kind)).toEqual([...Array(12).fill('request.received'), 'audit.adopted', 'passkey.enrolled', 'request.received']);
    expect(all[12]!.data).toMatchObject({ entries: 12, chainHead: prev, chainIntact: true, firstBad: null });
    expect(all[13]!.data).toMatchObject({ credentialId: 'cred_1', approverId: 'ap_1', email: 'jane@example.com', publicKey: 'pQECAyYgASFYIA' });
    expect(await verifyStored(upgraded.db, [signer.verifierKey])).toMatchObject({ ok: true, size: 15, checkpoint: { size: 15 } });
    await audit.close();
    await client.close();
  });
});

describe('bundles and receipts', () => {
  beforeEach(async () => {
    const audit = open();
    await audit.append([{ kind: 'passkey.enrolled', actor: 'web', data: { credentialId: 'cred_1', approverId: 'ap_1', email: 'jane@example.com', publicKey: 'pQECAyYgASFYIA' } }]);
    for (let i = 1; i <= 30; i++) {
      await audit.append([entry(i)]);
      if (i % 6 === 0) await audit.sync();
    }
    await audit.sync();
  });
  const source = () => ({ db, signer, verifierKeys: [signer.verifierKey] });

  it('exports a bundle that verifies offline, and names an edited, truncated or relabelled one', async () => {
    const lines = await collect(exportBundle(source()));
    expect(await verifyExport(lines)).toMatchObject({ ok: true, kind: 'bundle', entries: 31, size: 31, key: signer.verifierKey });
    expect(await verifyExport(lines, { key: newSigner().verifierKey }).catch((e: Error) => e.message)).toMatch(/header does not verify with the key you gave/);

    const edited = lines.map((l) => l.replace('"amount":1100', '"amount":1'));
    expect((await verifyExport(edited)).firstBad).toEqual({ seq: 31, reason: expect.stringMatching(/another root/) });
    expect((await verifyExport(lines.slice(0, -3))).firstBad).toEqual({ seq: 29, reason: expect.stringMatching(/29\.\.31 are missing.*truncated/) });
    const header = JSON.parse(lines[0]!) as { note: string };
    const relabelled = [JSON.stringify({ ...header, note: header.note.replace('"since":1', '"since":2') }), ...lines.slice(1)];
    expect(await verifyExport(relabelled).catch((e: Error) => e.message)).toMatch(/header does not verify/);
  });

  it('exports from a later seq with the frontier before it, and verifies that part', async () => {
    const lines = await collect(exportBundle(source(), { since: 20 }));
    expect(await verifyExport(lines)).toMatchObject({ ok: true, entries: 12, size: 31 });
  });

  it('writes a receipt for one request that verifies offline; a changed entry or proof fails naming it', async () => {
    const lines = await collect(exportReceipt(source(), 'req_7'));
    expect(await verifyExport(lines)).toMatchObject({ ok: true, kind: 'receipt', requestId: 'req_7', proven: 1, size: 31 });
    const changed = lines.map((l) => l.replace('"n\\":7', '"n\\":8').replace('"n":7', '"n":8'));
    expect((await verifyExport(changed)).firstBad).toEqual({ seq: 8, reason: expect.stringMatching(/inclusion proof does not lead/) });
    await expect(collect(exportReceipt(source(), 'req_nope'))).rejects.toThrow(/no entries for request req_nope/);
  });
});
