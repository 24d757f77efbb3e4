import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { sql } from 'drizzle-orm';
import { exportJWK, generateKeyPair } from 'jose';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { freshDatabase } from '../support/db.ts';
import { MIGRATIONS_DIR } from '../../gateway/db.ts';
import type { Database } from '../../gateway/db.ts';
import { createAuditLog, createJwsSigner, schema, type AuditLog, type CheckpointSigner, type Db, type JsonObject } from '../../kernel/index.ts';
import { exportBundle, verifyBundle } from '../../gateway/audit/bundle.ts';

let database: Database;
let db: Db;
let signer: CheckpointSigner;

beforeAll(async () => {
  database = await freshDatabase();
  db = database.db;
  const { privateKey, publicKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
  signer = createJwsSigner(privateKey, (await exportJWK(publicKey)) as JsonObject);
  await db.insert(schema.kernelMeta).values({ key: 'kernel.publicKeys', value: [signer.publicJwk] });
});
afterAll(async () => database?.close());

beforeEach(async () => {
  await db.execute(sql`delete from audit_entries`);
  await db.execute(sql`delete from audit_checkpoints`);
  await db.execute(sql`update audit_head set seq = 0, hash = repeat('0', 64)`);
});

const entry = (n: number, kind = 'request.received') => ({ kind, requestId: `req_${n}`, actor: 'agent:a1', data: { n, args: { amount: n * 100 } } });

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

describe('audit log on the database', () => {
  it('appends nothing when the caller transaction rolls back, and commits with it otherwise', async () => {
    const audit = createAuditLog(db, signer);
    await expect(
      db.transaction(async (tx) => {
        await audit.append([entry(1)], tx as unknown as Db);
        throw new Error('state change failed');
      }),
    ).rejects.toThrow('state change failed');
    expect(await collect(audit.read())).toEqual([]);

    await db.transaction(async (tx) => {
      await tx.insert(schema.kernelMeta).values({ key: 'test.state', value: { changed: true } });
      await audit.append([entry(2)], tx as unknown as Db);
    });
    const rows = await collect(audit.read());
    expect(rows.map((r) => [r.seq, r.requestId])).toEqual([[1, 'req_2']]);
  }, 60_000);

  it('refuses a tx argument that is not a transaction', async () => {
    const audit = createAuditLog(db, signer);
    await expect(audit.append([entry(1)], db)).rejects.toThrow(/transaction handle/);
  });

  it('forms one gapless chain from many concurrent appends and two logs sharing the database', async () => {
    const first = createAuditLog(db, signer, { checkpointEvery: 50 });
    const second = createAuditLog(db, signer, { checkpointEvery: 50 });
    const calls = Array.from({ length: 300 }, (_, i) => (i % 2 === 0 ? first : second).append(i % 7 === 0 ? [entry(i), entry(i, 'policy.decided')] : [entry(i)]));
    const results = await Promise.all(calls);
    // Each caller gets back its own entries, in order, with consecutive seqs.
    results.forEach((written, i) => {
      expect(written[0]!.requestId).toBe(`req_${i}`);
      if (written.length === 2) expect(written[1]!.seq).toBe(written[0]!.seq + 1);
    });
    const seqs = results.flat().map((e) => e.seq).sort((a, b) => a - b);
    const total = 300 + Math.ceil(300 / 7);
    expect(seqs).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    const result = await first.verify();
    expect(result).toMatchObject({ ok: true, entries: total, lastSeq: total, lastCheckpoint: { seq: Math.floor(total / 50) * 50 } });
    const checkpoints = await db.select().from(schema.auditCheckpoints);
    expect(checkpoints.map((c) => c.seq).sort((a, b) => a - b)).toEqual(Array.from({ length: Math.floor(total / 50) }, (_, i) => (i + 1) * 50));
  });

  it('keeps one chain when appends inside transactions move the head under a batching log', async () => {
    const audit = createAuditLog(db, signer);
    const other = createAuditLog(db, signer);
    const batched = Array.from({ length: 40 }, (_, i) => audit.append([entry(i)]));
    const inTx = Array.from({ length: 10 }, (_, i) =>
      db.transaction(async (tx) => {
        await other.append([entry(100 + i, 'grant.consumed')], tx as unknown as Db);
      }),
    );
    await Promise.all([...batched, ...inTx]);
    await audit.append([entry(999)]); // its cached head is stale now: the compare-and-swap must catch it
    expect(await audit.verify()).toMatchObject({ ok: true, entries: 51, lastSeq: 51 });
  });

  it('continues an existing chain after the audit_head migration seeds the head from its tail', async () => {
    const audit = createAuditLog(db, signer);
    await audit.append([entry(1), entry(2), entry(3)]);
    // What a database upgraded from before the head row looks like: entries, no head. Then the migration's seed.
    await db.execute(sql`delete from audit_head`);
    const migration = readFileSync(join(MIGRATIONS_DIR, '0002_audit_head.sql'), 'utf8');
    const seed = migration.split('--> statement-breakpoint').map((part) => part.trim()).find((part) => part.includes('INSERT INTO "audit_head"'));
    await db.execute(sql.raw(seed!));
    await createAuditLog(db, signer).append([entry(4)]);
    expect(await audit.verify()).toMatchObject({ ok: true, entries: 4, lastSeq: 4 });
  });

  it('rebuilds a deleted head row from the chain tail and carries on', async () => {
    const audit = createAuditLog(db, signer);
    await audit.append([entry(1), entry(2)]);
    await db.execute(sql`delete from audit_head`);
    await createAuditLog(db, signer).append([entry(3)]); // the batching path
    await db.execute(sql`delete from audit_head`);
    await db.transaction((tx) => createAuditLog(db, signer).append([entry(4)], tx as unknown as Db)); // the locking path
    expect(await audit.verify()).toMatchObject({ ok: true, entries: 4, lastSeq: 4 });
  });

  it('breaks the chain visibly, at the next entry, when the head row is tampered with', async () => {
    const audit = createAuditLog(db, signer);
    await audit.append([entry(1), entry(2)]);
    await db.execute(sql`update audit_head set hash = ${'f'.repeat(64)}`);
    await createAuditLog(db, signer).append([entry(3)]);
    expect((await audit.verify()).firstBad).toEqual({ seq: 3, reason: expect.stringMatching(/prev_hash/) });
  });

  it('signs a checkpoint on demand at the head, once', async () => {
    const audit = createAuditLog(db, signer);
    expect(await audit.checkpoint()).toBeNull();
    await audit.append([entry(1), entry(2), entry(3)]);
    const checkpoint = await audit.checkpoint();
    expect(checkpoint?.seq).toBe(3);
    expect((await audit.checkpoint())?.signature).toBe(checkpoint?.signature);
    expect((await audit.verify()).lastCheckpoint).toMatchObject({ seq: 3, kid: signer.kid });
  });

  it('reads by request and kind, and pages through long chains', async () => {
    const audit = createAuditLog(db, signer);
    await audit.append(Array.from({ length: 25 }, (_, i) => entry(i % 5, i % 2 ? 'policy.decided' : 'request.received')));
    expect((await collect(audit.read({ requestId: 'req_3' }))).map((e) => e.seq)).toEqual([4, 9, 14, 19, 24]);
    expect((await collect(audit.read({ kind: 'policy.decided', pageSize: 4, limit: 6 }))).map((e) => e.seq)).toEqual([2, 4, 6, 8, 10, 12]);
    expect((await collect(audit.read({ since: 20, pageSize: 2 }))).map((e) => e.seq)).toEqual([20, 21, 22, 23, 24, 25]);
    expect((await audit.verify({ pageSize: 3 })).ok).toBe(true);
  });

  describe('verify() after raw SQL tampering', () => {
    let audit: AuditLog;
    beforeEach(async () => {
      audit = createAuditLog(db, signer, { checkpointEvery: 10 });
      await audit.append(Array.from({ length: 30 }, (_, i) => entry(i + 1)));
      expect((await audit.verify()).ok).toBe(true);
    });

    it('names an edited entry', async () => {
      await db.execute(sql`update audit_entries set data = jsonb_set(data, '{args,amount}', '1') where seq = 17`);
      expect((await audit.verify()).firstBad).toEqual({ seq: 17, reason: expect.stringMatching(/entry edited/) });
    });

    it('names a deleted entry', async () => {
      await db.execute(sql`delete from audit_entries where seq = 12`);
      expect((await audit.verify()).firstBad).toEqual({ seq: 12, reason: expect.stringMatching(/missing/) });
    });

    it('names swapped entries', async () => {
      await db.execute(sql`update audit_entries set seq = -1 where seq = 5`);
      await db.execute(sql`update audit_entries set seq = 5 where seq = 6`);
      await db.execute(sql`update audit_entries set seq = 6 where seq = -1`);
      expect((await audit.verify()).firstBad?.seq).toBe(5);
    });

    it('names the first missing entry of a truncated tail', async () => {
      await db.execute(sql`delete from audit_entries where seq > 24`);
      expect((await audit.verify()).firstBad).toEqual({ seq: 25, reason: expect.stringMatching(/truncated/) });
    });

    it('names a checkpoint edited to match a rewritten entry', async () => {
      await db.execute(sql`update audit_checkpoints set hash = ${'0'.repeat(64)} where seq = 20`);
      expect((await audit.verify()).firstBad?.seq).toBe(20);
    });
  });

  describe('offline bundles', () => {
    beforeEach(async () => {
      await db.execute(sql`delete from devices`);
      await db.execute(sql`delete from passkeys`);
      await db.execute(sql`delete from approvers`);
      await db.insert(schema.approvers).values({ id: 'ap_1', email: 'jane@example.com', roles: ['finance'] });
      await db.insert(schema.passkeys).values({ id: 'cred_1', approverId: 'ap_1', publicKey: 'pQECAyYgASFYIA' });
      await db.insert(schema.devices).values({ id: 'dev_1', approverId: 'ap_1', name: 'Passport', publicJwk: { kty: 'OKP', crv: 'Ed25519', x: 'abc' } });
      const audit = createAuditLog(db, signer, { checkpointEvery: 8 });
      await audit.append(Array.from({ length: 20 }, (_, i) => entry(i + 1, i % 4 === 3 ? 'approval.decided' : 'request.received')));
    });

    it('exports a self-contained bundle that verifies offline, receipts included', async () => {
      const lines = await collect(exportBundle(db));
      const header = JSON.parse(lines[0]!);
      expect(header).toMatchObject({
        format: 'countersign-audit-bundle/v1',
        since: 1,
        kernelKeys: [signer.publicJwk],
        passkeys: [{ id: 'cred_1', approverId: 'ap_1', email: 'jane@example.com', publicKey: 'pQECAyYgASFYIA' }],
        devices: [{ id: 'dev_1', approverId: 'ap_1', publicJwk: { kty: 'OKP', crv: 'Ed25519', x: 'abc' } }],
      });
      expect(lines.filter((l) => l.includes('"type":"entry"'))).toHaveLength(20);
      expect(lines.filter((l) => l.includes('"type":"checkpoint"'))).toHaveLength(2);
      const seen: number[] = [];
      const result = await verifyBundle(lines, {
        verifyReceipt: async (data, h) => {
          expect(h.passkeys).toHaveLength(1);
          seen.push((data as JsonObject).n as number);
          return null;
        },
      });
      expect(result).toMatchObject({ ok: true, entries: 20, lastSeq: 20, checkpoints: 2, receipts: 5, lastCheckpoint: { seq: 16 } });
      expect(seen).toEqual([4, 8, 12, 16, 20]);
    });

    it('fails a bundle with a tampered line, naming its seq', async () => {
      const lines = await collect(exportBundle(db));
      const index = lines.findIndex((l) => l.includes('"seq":11,'));
      lines[index] = lines[index]!.replace('"amount":1100', '"amount":1');
      expect((await verifyBundle(lines)).firstBad).toEqual({ seq: 11, reason: expect.stringMatching(/entry edited/) });
    });

    it('fails a bundle whose approval receipt does not verify, naming that entry', async () => {
      const lines = await collect(exportBundle(db));
      const result = await verifyBundle(lines, { verifyReceipt: async (data) => ((data as JsonObject).n === 12 ? 'signature invalid' : null) });
      expect(result.firstBad).toEqual({ seq: 12, reason: 'approval receipt does not verify: signature invalid' });
    });

    it('exports from a later seq and verifies that part', async () => {
      const lines = await collect(exportBundle(db, { since: 9 }));
      const result = await verifyBundle(lines);
      expect(result).toMatchObject({ ok: true, entries: 12, lastSeq: 20, checkpoints: 1, header: { since: 9 } });
    });

    it('fails when the checkpoint keys offered are not the kernel key', async () => {
      const { publicKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
      const other = (await exportJWK(publicKey)) as JsonObject;
      const result = await verifyBundle(await collect(exportBundle(db)), { kernelKeys: [other] });
      expect(result.firstBad).toEqual({ seq: 8, reason: expect.stringMatching(/unknown key/) });
    });
  });
});
