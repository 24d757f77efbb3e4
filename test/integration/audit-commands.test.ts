import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import { exportJWK, generateKeyPair } from 'jose';
import { freshDatabase } from '../support/db.ts';
import type { Database } from '../../gateway/db.ts';
import { auditExport, auditVerify, auditVerifyOffline } from '../../gateway/commands/audit.ts';
import { createAuditLog, createJwsSigner, schema, type AuditLog, type CheckpointSigner, type JsonObject } from '../../kernel/index.ts';

let database: Database;
let signer: CheckpointSigner;
let audit: AuditLog;
const dir = mkdtempSync(join(tmpdir(), 'cs-audit-'));

beforeAll(async () => {
  database = await freshDatabase();
  const { privateKey, publicKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
  signer = createJwsSigner(privateKey, (await exportJWK(publicKey)) as JsonObject);
  await database.db.insert(schema.kernelMeta).values({ key: 'kernel.publicKeys', value: [signer.publicJwk] });
  audit = createAuditLog(database.db, signer, { checkpointEvery: 10 });
  await audit.append(Array.from({ length: 25 }, (_, i) => ({ kind: 'request.received', requestId: `req_${i + 1}`, actor: 'kernel', data: { i: i + 1 } })));
});
afterAll(async () => database?.close());

describe('countersign audit commands', () => {
  it('verify prints a one-line summary, or one JSON object', async () => {
    const text = await auditVerify({ database }, {});
    expect(text.exitCode).toBe(0);
    expect(text.stdout).toMatch(new RegExp(`^verified 25 entries, chain head [0-9a-f]{64}, checkpoint at 20 signed by ${signer.kid}\\n$`));
    const json = await auditVerify(database.db, { json: true });
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: true, entries: 25, lastSeq: 25, lastCheckpoint: { seq: 20 } });
  });

  it('export writes a bundle that verifies offline; a tampered copy exits 1 naming the seq', async () => {
    const out = join(dir, 'bundle.jsonl');
    const exported = await auditExport({ database }, { out });
    expect(exported).toEqual({ exitCode: 0, stdout: expect.stringMatching(/^exported 25 entries and 2 checkpoints from seq 1 to /) });
    expect(existsSync(`${out}.partial`)).toBe(false);

    const offline = await auditVerifyOffline(out, { verifyReceipt: async () => null });
    expect(offline.exitCode).toBe(0);
    expect(offline.stdout).toMatch(/^verified 25 entries, chain head [0-9a-f]{64}, checkpoint at 20 signed by /);

    const tampered = join(dir, 'tampered.jsonl');
    writeFileSync(tampered, readFileSync(out, 'utf8').replace('"data":{"i":7}', '"data":{"i":70}'));
    const bad = await auditVerifyOffline(tampered, {});
    expect(bad.exitCode).toBe(1);
    expect(bad.stdout).toMatch(/^offline verify FAILED at entry 7: /);
    expect(JSON.parse((await auditVerifyOffline(tampered, { json: true })).stdout)).toMatchObject({ ok: false, firstBad: { seq: 7 } });
  });

  it('export to stdout, and from a seq or a time', async () => {
    const all = await auditExport(database.db, {});
    expect(all.stdout.trim().split('\n')).toHaveLength(1 + 25 + 2);
    const fromSeq = await auditExport(database.db, { since: '21' });
    expect(fromSeq.stdout.trim().split('\n')).toHaveLength(1 + 5);
    const future = await auditExport(database.db, { since: '2999-01-01T00:00:00Z' });
    expect(future.stdout.trim().split('\n')).toHaveLength(1);
    const past = await auditExport(database.db, { since: '2000-01-01' });
    expect(past.stdout.trim().split('\n')).toHaveLength(1 + 25 + 2);
    expect(await auditExport(database.db, { since: 'yesterday' })).toEqual({ exitCode: 2, stdout: expect.stringMatching(/neither an entry seq nor a time/) });
  });

  it('offline verify explains a missing file or a file that is not a bundle', async () => {
    expect(await auditVerifyOffline(join(dir, 'nope.jsonl'), {})).toEqual({ exitCode: 1, stdout: expect.stringMatching(/cannot read the bundle .*nope\.jsonl/) });
    const notBundle = join(dir, 'not.jsonl');
    writeFileSync(notBundle, '{"hello":"world"}\n');
    expect(await auditVerifyOffline(notBundle, {})).toEqual({ exitCode: 1, stdout: expect.stringMatching(/not a Countersign audit bundle/) });
  });

  it('verify exits 1 naming the first bad entry after tampering', async () => {
    await database.db.execute(sql`update audit_entries set actor = 'approver:mallory' where seq = 13`);
    const result = await auditVerify({ database }, {});
    expect(result.exitCode).toBe(1);
    expect(result.stdout).toMatch(/^audit verify FAILED at entry 13: stored hash does not match the entry content/);
  });
});
