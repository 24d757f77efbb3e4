import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import { freshDatabase } from '../support/db.ts';
import { createServices, type Services } from '../../gateway/app.ts';
import { auditExport, auditHead, auditReceipt, auditVerify, auditVerifyOffline } from '../../gateway/commands/audit.ts';
import { verifyEvidence } from '../../gateway/commands/receipts.ts';
import { Frontier, entryJcs, hashLeaf, jcs, readEntries, type Db } from '../../kernel/index.ts';

/**
 * The attacks of issue 11, made with database access as an attacker would make them, against a running server whose
 * config names a witness file outside its data directory. Each must make `audit verify` exit non-zero.
 */
let services: Services;
let db: Db;
const home = mkdtempSync(join(tmpdir(), 'cs-audit-home-'));
const outside = mkdtempSync(join(tmpdir(), 'cs-audit-outside-'));
const witness = join(outside, 'witness.checkpoint');
const saved = join(outside, 'seen-earlier.checkpoint');
const TABLES = ['audit_entries', 'audit_tree', 'audit_tree_heads', 'audit_queue'];

async function appendBatch(from: number, count: number, actor = 'kernel'): Promise<void> {
  await services.audit.append(Array.from({ length: count }, (_, i) => ({ kind: 'request.received', requestId: `req_${from + i}`, actor, data: { i: from + i } })));
  await services.audit.sync();
}

/** The witness is written after each batch commits; wait until it holds `size`. */
async function witnessAt(size: number): Promise<void> {
  for (let i = 0; i < 200 && !(existsSync(witness) && readFileSync(witness, 'utf8').split('\n')[1] === String(size)); i++) await new Promise((r) => setTimeout(r, 25));
  expect(readFileSync(witness, 'utf8').split('\n')[1]).toBe(String(size));
}

/** What an attacker with SQL access can do: re-hash every entry (after `change`) and rebuild every tree node. */
async function rewriteTree(change: (seq: number, actor: string) => string): Promise<void> {
  const frontier = new Frontier();
  await db.execute(sql`delete from audit_tree`);
  for await (const e of readEntries(db)) {
    const actor = change(e.seq, e.actor);
    const leaf = hashLeaf(entryJcs(e.seq, e.at, e.kind, e.requestId, actor, jcs(e.data)));
    await db.execute(sql`update audit_entries set actor = ${actor}, leaf_hash = ${leaf.toString('hex')} where seq = ${e.seq}`);
    const nodes: string[] = [];
    frontier.push(leaf, (level, idx, hash) => nodes.push(`(${level}, ${idx}, '${hash.toString('hex')}')`));
    if (nodes.length) await db.execute(sql.raw(`insert into audit_tree (level, idx, hash) values ${nodes.join(',')}`));
  }
}

beforeAll(async () => {
  writeFileSync(join(home, 'countersign.yaml'), `policy:\n  default: approve\naudit:\n  witnesses:\n    - ${witness}\n`);
  const database = await freshDatabase();
  services = await createServices({ home, configPath: join(home, 'countersign.yaml'), publicUrl: 'http://localhost:9', port: 9, host: '127.0.0.1', connectors: [], database });
  db = database.db;
  for (let batch = 0; batch < 5; batch++) await appendBatch(batch * 5 + 1, 5);
  await witnessAt(25);
  writeFileSync(saved, (await auditHead(services)).stdout);
  for (const table of TABLES) await db.execute(sql.raw(`create table backup_${table} as select * from ${table}`));
});
afterAll(async () => {
  await services?.close();
  await services?.database.close();
  rmSync(home, { recursive: true, force: true });
  rmSync(outside, { recursive: true, force: true });
});

// Every test starts from the 25-entry log the witness and `saved` hold.
beforeEach(async () => {
  for (const table of TABLES) {
    await db.execute(sql.raw(`delete from ${table}`));
    await db.execute(sql.raw(`insert into ${table} select * from backup_${table}`));
  }
  writeFileSync(witness, readFileSync(saved, 'utf8'));
});

describe('countersign audit head, verify, export and receipt', () => {
  it('head prints the signed checkpoint note; /audit/checkpoint serves the same, read-only', async () => {
    const head = await auditHead(services);
    expect(head.stdout).toMatch(/^localhost:9\/countersign\/audit\n25\n[A-Za-z0-9+/]{43}=\n\n\u2014 localhost:9\/countersign\/audit /);
    expect(JSON.parse((await auditHead(services, { json: true })).stdout)).toMatchObject({ size: 25, checkpoint: head.stdout, verifierKey: services.auditSigner.verifierKey });
    const served = await services.app.request('http://localhost:9/audit/checkpoint');
    expect(served.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(await served.text()).toBe(head.stdout);
    expect([403, 404, 405]).toContain((await services.app.request('http://localhost:9/audit/checkpoint', { method: 'POST' })).status);
  });

  it('verify re-builds the tree and proves it extends a checkpoint seen earlier', async () => {
    const text = await auditVerify(services, { checkpoint: saved });
    expect(text).toEqual({ exitCode: 0, stdout: expect.stringMatching(/^verified 25 entries: tree size 25, root [0-9a-f]{64}, matches the checkpoint signed at size 25/) });
    await appendBatch(26, 3);
    expect(JSON.parse((await auditVerify(services, { checkpoint: saved, json: true })).stdout)).toMatchObject({ ok: true, size: 28, problems: [] });
    expect(await auditVerify(services, { checkpoint: join(outside, 'nope') })).toEqual({ exitCode: 2, stdout: expect.stringMatching(/cannot read the checkpoint/) });
  });

  it('exports a bundle and a receipt that verify offline; a tampered copy exits 1 naming what is wrong', async () => {
    const out = join(outside, 'bundle.jsonl');
    expect(await auditExport(services, { out })).toEqual({ exitCode: 0, stdout: expect.stringMatching(/^exported 26 lines from seq 1 to /) });
    expect(existsSync(`${out}.partial`)).toBe(false);
    const offline = await auditVerifyOffline(out, { verifyEvidence, key: services.auditSigner.verifierKey });
    expect(offline).toEqual({ exitCode: 0, stdout: expect.stringMatching(/^verified 25 entries: tree size 25/) });
    const tampered = join(outside, 'tampered.jsonl');
    writeFileSync(tampered, readFileSync(out, 'utf8').replace('"data":{"i":7}', '"data":{"i":70}'));
    expect(await auditVerifyOffline(tampered)).toEqual({ exitCode: 1, stdout: expect.stringMatching(/^offline verify \(bundle\) FAILED at entry 25: the checkpoint signed at size 25 has another root/) });
    const truncated = join(outside, 'truncated.jsonl');
    writeFileSync(truncated, readFileSync(out, 'utf8').split('\n').slice(0, 21).join('\n'));
    expect((await auditVerifyOffline(truncated)).stdout).toMatch(/FAILED at entry 21: entries 21\.\.25 are missing/);

    const receipt = join(outside, 'receipt.jsonl');
    expect(await auditReceipt(services, 'req_7', { out: receipt })).toEqual({ exitCode: 0, stdout: expect.stringMatching(/^wrote the receipt of req_7/) });
    expect((await auditVerifyOffline(receipt)).stdout).toMatch(/^verified the receipt of req_7: 1 entries proven in the tree of size 25/);
    expect(await auditReceipt(services, 'req_nope')).toEqual({ exitCode: 2, stdout: expect.stringMatching(/no entries for request req_nope/) });
    expect(await auditVerifyOffline(join(outside, 'nope.jsonl'))).toEqual({ exitCode: 1, stdout: expect.stringMatching(/cannot read .*nope\.jsonl/) });
    writeFileSync(join(outside, 'not.jsonl'), '{"hello":"world"}\n');
    expect((await auditVerifyOffline(join(outside, 'not.jsonl'))).stdout).toMatch(/not a Countersign audit export/);
  });

  it('export from a seq or a time, and refuses a --since it cannot read', async () => {
    expect((await auditExport(services, { since: '21' })).stdout.trim().split('\n')).toHaveLength(1 + 5);
    expect((await auditExport(services, { since: '2000-01-01' })).stdout.trim().split('\n')).toHaveLength(1 + 25);
    expect(await auditExport(services, { since: 'yesterday' })).toEqual({ exitCode: 2, stdout: expect.stringMatching(/neither an entry seq nor a time/) });
  });
});

describe('attacks with database access, caught by audit verify --checkpoint and by the witness file', () => {
  it('tail deletion, with the tree and checkpoints behind it removed too', async () => {
    await db.execute(sql`delete from audit_entries where seq > 20`);
    await db.execute(sql`delete from audit_tree_heads where size > 20`);
    await rewriteTree((_, actor) => actor);
    const viaFile = await auditVerify(services, { checkpoint: saved });
    expect(viaFile.exitCode).toBe(1);
    expect(viaFile.stdout).toMatch(/FAILED at entry 21: entries 21\.\.25 are missing/);
    const viaWitness = await auditVerify(services);
    expect(viaWitness.exitCode).toBe(1);
    expect(viaWitness.stdout).toMatch(/entries 21\.\.25 are missing|removed or the database rolled back/);
  });

  it('whole-log rewrite (every actor changed) with all checkpoints deleted', async () => {
    await rewriteTree((seq) => `approver:mallory-${seq}`);
    await db.execute(sql`delete from audit_tree_heads`);
    const result = await auditVerify(services, { checkpoint: saved });
    expect(result.exitCode).toBe(1);
    expect(result.stdout).toMatch(/the checkpoint signed at size 25 has another root: entries up to 25 were rewritten/);
    expect((await auditVerify(services)).exitCode).toBe(1);
  });

  it('a fork: another tree of the same size, re-signed checkpoints left as they were', async () => {
    await rewriteTree((seq, actor) => (seq === 9 ? 'approver:mallory' : actor));
    const result = await auditVerify(services, { checkpoint: saved, json: true });
    expect(result.exitCode).toBe(1);
    expect(JSON.parse(result.stdout)).toMatchObject({ ok: false, firstBad: { seq: 10, reason: expect.stringMatching(/another root/) } });
  });

  it('a deleted checkpoints table', async () => {
    await db.execute(sql`delete from audit_tree_heads`);
    const result = await auditVerify(services, { checkpoint: saved });
    expect(result.exitCode).toBe(1);
    expect(result.stdout).toMatch(/checkpoint of size 25 in .* is missing in the database/);
  });

  it('a database restored from an older backup, then grown into a fork: the witness refuses to follow', async () => {
    await appendBatch(26, 10);
    await witnessAt(35);
    const later = join(outside, 'later.checkpoint');
    writeFileSync(later, (await auditHead(services)).stdout);
    // Restore the 25-entry backup: the witness (size 35) and `later` now see a rolled-back database.
    for (const table of TABLES) {
      await db.execute(sql.raw(`delete from ${table}`));
      await db.execute(sql.raw(`insert into ${table} select * from backup_${table}`));
    }
    expect((await auditVerify(services)).stdout).toMatch(/removed or the database rolled back/);
    // The restored log grows past 35 with other entries: a fork of the witnessed tree, and the witness keeps 35.
    await appendBatch(26, 12, 'agent:other');
    await new Promise((r) => setTimeout(r, 300));
    expect(readFileSync(witness, 'utf8').split('\n')[1]).toBe('35');
    const result = await auditVerify(services, { checkpoint: later });
    expect(result.exitCode).toBe(1);
    expect(result.stdout).toMatch(/another root|forked/);
  });
});
