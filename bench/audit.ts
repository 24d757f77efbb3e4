import { generateKeyPairSync, hash, randomBytes } from 'node:crypto';
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import postgres from 'postgres';
import { migrate, openDatabase, type Database } from '../gateway/db.ts';
import {
  Frontier,
  auditQueueInsert,
  checkpointText,
  createAuditLog,
  createNoteSigner,
  entryJcs,
  hashLeaf,
  inclusionProof,
  jcs,
  prepareInput,
  readCheckpoints,
  readEntries,
  requestDigest,
  verifyInclusion,
  verifyStored,
  type JsonObject,
  type NoteSigner,
  type RequestBody,
} from '../kernel/index.ts';
import { integrate } from '../kernel/audit/store.ts';
import { BUNDLE_FORMAT, HEADER_LINE } from '../gateway/audit/bundle.ts';
import { eachLine, verifyExportFile } from '../gateway/audit/offline.ts';
import type { BenchResult } from './types.ts';

const WRITERS = 16;

function signer(): NoteSigner {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return createNoteSigner('bench.example/countersign/audit', privateKey, publicKey.export({ format: 'jwk' }) as JsonObject);
}

const sample = (i: number) => ({ kind: 'request.received', requestId: `req_${i}`, actor: 'agent:bench', data: { tool: 'stripe_create_refund', args: { charge: `ch_${i}`, amount: 12000 } } });

/** Entries per second of WRITERS concurrent loops, each awaiting `op` (which writes `per` entries) `calls` times. */
async function concurrentRate(calls: number, per: number, op: (writer: number, i: number) => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await Promise.all(Array.from({ length: WRITERS }, async (_, w) => {
    for (let i = 0; i < calls; i++) await op(w, i);
  }));
  return (WRITERS * calls * per) / ((performance.now() - start) / 1000);
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

/**
 * Audited appends: WRITERS loops append `per` entries per call, each call in its own transaction with a state change
 * (a row in bench_state), as the kernel does; the rate counts until every entry is in the signed tree. The floor
 * baseline is the same transactions inserting the same rows into a plain table, with no sequencer at all. Each audited
 * call first awaits the log's admission (`admit`), as the kernel's submit does: when the sequencer's last batch was
 * over maxBacklog (BENCH_AUDIT_BACKLOG, default the product's 4,000), writers wait for its next batch.
 * Merge delay: from an entry's enqueue time to the signing time of the first checkpoint covering it.
 */
async function appendRates(database: Database, calls: number, per: number) {
  const { db } = database;
  await db.execute(sql`create table if not exists bench_state (id bigserial primary key, n int not null)`);
  await db.execute(sql`create table if not exists bench_plain (id bigserial primary key, at text not null, kind text not null, request_id text, actor text not null, data text not null)`);
  const key = signer();
  const audit = createAuditLog(db, key, { idleMs: 100, ...(process.env.BENCH_AUDIT_BACKLOG ? { maxBacklog: Number(process.env.BENCH_AUDIT_BACKLOG) } : {}) });
  const batch = (w: number, i: number) => Array.from({ length: per }, (_, k) => sample((w * calls + i) * per + k));
  const audited = async (w: number, i: number) =>
    (await audit.admit(),
    db.transaction(async (tx) => {
      await tx.execute(sql`insert into bench_state (n) values (${i})`);
      await audit.append(batch(w, i), tx as never);
    }));
  const plain = (w: number, i: number) =>
    db.transaction(async (tx) => {
      await tx.execute(sql`insert into bench_state (n) values (${i})`);
      const rows = batch(w, i).map((s) => ({ at: new Date().toISOString(), kind: s.kind, request_id: s.requestId, actor: s.actor, data: jcs(s.data) }));
      await tx.execute(sql`insert into bench_plain (at, kind, request_id, actor, data)
        select * from jsonb_to_recordset(${JSON.stringify(rows)}::text::jsonb) as r(at text, kind text, request_id text, actor text, data text)`);
    });
  // Both paths warm up alike (JIT, plans, caches) before either is measured.
  await concurrentRate(Math.ceil(calls / 5), per, audited);
  await audit.sync();
  await concurrentRate(Math.ceil(calls / 5), per, plain);
  const before = (await audit.sync())?.size ?? 0;
  const start = performance.now();
  await concurrentRate(calls, per, audited);
  await audit.sync();
  const auditedRate = (WRITERS * calls * per) / ((performance.now() - start) / 1000);
  const plainRate = await concurrentRate(calls, per, plain);
  const checkpoints = await readCheckpoints(db, before + 1);
  const delays: number[] = [];
  let c = 0;
  for await (const e of readEntries(db, { since: before + 1 })) {
    while (checkpoints[c]!.size < e.seq) c++;
    delays.push(Date.parse(checkpoints[c]!.at) - Date.parse(e.at));
  }
  delays.sort((a, b) => a - b);
  const verified = await verifyStored(db, [key.verifierKey]);
  if (!verified.ok) throw new Error(`bench log does not verify: ${JSON.stringify(verified.firstBad)}`);
  await audit.close();
  return { audited: auditedRate, plain: plainRate, p50: percentile(delays, 50), p99: percentile(delays, 99), batches: checkpoints.length, entries: delays.length };
}

/**
 * Appends outside a transaction, one entry per call, as the router's refusals and agent changes make them: the log's
 * own group commit puts concurrent calls in one insert. The floor is plain rows through an equivalent group commit.
 */
async function groupCommitRates(database: Database, calls: number) {
  const { db } = database;
  await db.execute(sql`create table if not exists bench_plain_gc (id bigserial primary key, at text not null, kind text not null, request_id text, actor text not null, data text not null)`);
  const key = signer();
  const audit = createAuditLog(db, key, { idleMs: 100 });
  const queue: { row: ReturnType<typeof sample>; done: () => void }[] = [];
  let draining = false;
  async function drain() {
    draining = true;
    while (queue.length > 0) {
      const batch = queue.splice(0, 5000);
      const rows = batch.map(({ row }) => ({ at: new Date().toISOString(), kind: row.kind, request_id: row.requestId, actor: row.actor, data: jcs(row.data) }));
      await db.execute(sql`insert into bench_plain_gc (at, kind, request_id, actor, data)
        select * from jsonb_to_recordset(${JSON.stringify(rows)}::text::jsonb) as r(at text, kind text, request_id text, actor text, data text)`);
      batch.forEach((w) => w.done());
    }
    draining = false;
  }
  const plain = (w: number, i: number) => new Promise<void>((done) => (queue.push({ row: sample(w * calls + i), done }), draining || void drain()));
  const audited = (w: number, i: number) => audit.append([sample(w * calls + i)]);
  await concurrentRate(Math.ceil(calls / 5), 1, audited);
  await audit.sync();
  await concurrentRate(Math.ceil(calls / 5), 1, plain);
  const start = performance.now();
  await concurrentRate(calls, 1, audited);
  await audit.sync();
  const auditedRate = (WRITERS * calls) / ((performance.now() - start) / 1000);
  const plainRate = await concurrentRate(calls, 1, plain);
  await audit.close();
  return { audited: auditedRate, plain: plainRate };
}

/**
 * The sequencer alone: `count` entries queued first (not timed), then integrated in batches of 10,000 with nothing
 * else running. With the writers' floor this bounds the appends test: on a machine whose cores the writers already
 * fill, each entry costs a queue insert and a sequencing, so appends cannot beyond 1 / (1/floor + 1/this).
 */
async function sequencerAlone(database: Database, count: number): Promise<number> {
  const { db } = database;
  const key = signer();
  for (let i = 0; i < count; i += 1000) await db.execute(auditQueueInsert(Array.from({ length: 1000 }, (_, k) => prepareInput(sample(i + k), 0))));
  const start = performance.now();
  let done = 0;
  while (done < count) {
    const batch = await db.transaction((tx) => integrate(tx as never, key, 10_000));
    if (!batch || batch === 'busy') throw new Error(`bench sequencer stopped after ${done} of ${count} entries`);
    done += batch.entries.length;
  }
  return done / ((performance.now() - start) / 1000);
}

async function onPostgres<T>(url: string, body: (database: Database) => Promise<T>): Promise<T> {
  const name = `cs_bench_${randomBytes(5).toString('hex')}`;
  const admin = postgres(url, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database ${name}`);
  const target = new URL(url);
  target.pathname = `/${name}`;
  let database: Database | undefined;
  try {
    database = await openDatabase({ url: target.toString() });
    await migrate(database);
    return await body(database);
  } finally {
    await database?.close();
    await admin.unsafe(`drop database if exists ${name} with (force)`);
    await admin.end();
  }
}

/** Inclusion proof verification in a tree of a million leaves (proofs of 20 hashes), and its bare-hashing floor. */
function inclusionBench(): BenchResult {
  const size = 1_000_000;
  const levels: Buffer[][] = [Array.from({ length: size }, (_, i) => hashLeaf(`leaf ${i}`))];
  const frontier = new Frontier();
  for (const leaf of levels[0]!) frontier.push(leaf, (level, index, h) => ((levels[level] ??= [])[index] = h));
  const node = (level: number, index: number) => levels[level]![index]!;
  const root = frontier.root();
  const cases = Array.from({ length: 2000 }, (_, i) => (i * 7919) % size).map((index) => ({ index, proof: inclusionProof(index, size, node) }));
  for (const { index, proof } of cases.slice(0, 200)) if (!verifyInclusion(index, size, levels[0]![index]!, proof, root)) throw new Error('bench proof does not verify');
  const start = performance.now();
  for (const { index, proof } of cases) verifyInclusion(index, size, levels[0]![index]!, proof, root);
  const perProof = ((performance.now() - start) * 1000) / cases.length;
  const hashStart = performance.now();
  for (const { proof } of cases) for (const p of proof) hash('sha256', p);
  const bare = ((performance.now() - hashStart) * 1000) / cases.length;
  return { name: 'audit.inclusion_proof_verify_1M_tree', value: Number(perProof.toFixed(1)), unit: 'us', baseline: { name: 'bare one-shot sha256 per proof hash', value: Number(bare.toFixed(1)), unit: 'us' }, target: '<= 100 us', goal: { max: 100 } };
}

/**
 * A million-entry bundle as the exporter writes it (10 entries per request, 30% approved by an enrolled passkey,
 * a checkpoint line every 1000 entries), then offline verification of it: tree, checkpoints, header signature, and
 * every approval against its key's enrollment and the request's recomputed digest (evidence signatures are fake
 * here and not checked). Baseline: reading the lines and one bare sha256 each.
 */
async function offlineBench(count = 1_000_000): Promise<BenchResult> {
  const dir = mkdtempSync(join(tmpdir(), 'cs-audit-bench-'));
  try {
    const key = signer();
    const path = join(dir, 'bundle.jsonl');
    const file = createWriteStream(path);
    const frontier = new Frontier();
    const lines: string[] = [];
    const at = new Date().toISOString();
    const add = (kind: string, requestId: string | null, actor: string, data: JsonObject) => {
      const line = entryJcs(frontier.size + 1, at, kind, requestId, actor, jcs(data));
      frontier.push(hashLeaf(line));
      lines.push(line);
      if (frontier.size % 1000 === 0) lines.push(JSON.stringify({ type: 'checkpoint', note: key.sign(checkpointText(key.name, frontier.size, frontier.root())) }));
    };
    add('passkey.enrolled', null, 'web', { credentialId: 'pk_1', approverId: 'apr_1', email: 'ana@example.com', publicKey: 'pQECAyYgASFYIA' });
    for (let n = 0; frontier.size < count; n++) {
      const id = `req_${n}`;
      const body = { tool: 'stripe_create_refund', args: { charge: `ch_${n}`, amount: 1200 }, pins: {}, principal: { agentId: 'agt_1', agentName: 'bot', owner: 'ana@example.com' }, policyVersion: 'v1', requestId: id, nonce: `n${n}`, expiresAt: at } as unknown as RequestBody;
      const digest = requestDigest(body);
      const steps: [string, string, JsonObject][] = [['request.received', 'agent:agt_1', { digest, body: body as unknown as JsonObject, intent: { summary: `Refund $12.00 on ch_${n}` } }], ['policy.decided', 'kernel', { decision: n % 10 < 3 ? 'approve' : 'allow' }]];
      if (n % 10 < 3) steps.push(['approval.decided', 'approver:apr_1', { decision: 'approve', approver: 'ana@example.com', evidenceKind: 'webauthn', keyId: 'pk_1', digest, receipt: { kind: 'webauthn' } }], ['request.approved', 'kernel', { approvals: 1 }]);
      steps.push(['grant.minted', 'kernel', { jti: `jti_${n}` }], ['execution.started', 'kernel', { tool: 'stripe_create_refund' }], ['execution.succeeded', 'kernel', { data: { refund: `re_${n}` }, text: 'done' }]);
      while (steps.length < 10) steps.push(['request.viewed', 'approver:apr_1', { n }]);
      for (const [kind, actor, data] of steps) if (frontier.size < count) add(kind, id, actor, data);
    }
    const header = { format: BUNDLE_FORMAT, kind: 'bundle', createdAt: at, verifierKeys: [key.verifierKey], checkpoint: key.sign(checkpointText(key.name, frontier.size, frontier.root())), since: 1, frontier: [], requestId: null };
    file.write(`${JSON.stringify({ type: 'header', note: key.sign(`${HEADER_LINE}\n${jcs(header as unknown as JsonObject)}\n`) })}\n`);
    for (const line of lines) if (!file.write(`${line}\n`)) await once(file, 'drain');
    file.end();
    await once(file, 'finish');
    lines.length = 0;
    const hashStart = performance.now();
    await eachLine(path, (line) => hash('sha256', line));
    const hashSeconds = (performance.now() - hashStart) / 1000;
    const start = performance.now();
    const result = await verifyExportFile(path, { key: key.verifierKey });
    const seconds = (performance.now() - start) / 1000;
    if (!result.ok || result.entries !== count) throw new Error(`bench bundle does not verify: ${JSON.stringify(result.firstBad)}`);
    return { name: `audit.offline_verify_${count / 1_000_000}M_bundle (${result.approvals.checked} approvals checked against enrollment)`, value: Number(seconds.toFixed(2)), unit: 's', baseline: { name: 'read lines + bare one-shot sha256 each', value: Number(hashSeconds.toFixed(2)), unit: 's' }, target: '<= 5 s', goal: { max: 5 } };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The audit log: appends/s with 16 writers (PGlite and PostgreSQL) end to end into the signed tree, merge delay,
 * inclusion proof verification, and offline verification of a million-entry bundle.
 */
export async function run(): Promise<BenchResult[]> {
  const results: BenchResult[] = [];
  // BENCH_AUDIT_PARTS=inclusion,offline runs only those parts (of appends, inclusion, offline); `flood` runs only the
  // 16 writers of 50 entries per transaction on PostgreSQL (rate and merge delay), and `sequencer` the sequencer alone
  // on PostgreSQL, for A/B runs of the sequencer.
  const parts = new Set((process.env.BENCH_AUDIT_PARTS ?? 'appends,inclusion,offline').split(','));
  const per = Number(process.env.BENCH_AUDIT_PER_CALL ?? 50);
  const floor = (value: number) => ({ name: 'same transactions, same rows, into a plain table (floor)', value: Math.round(value), unit: 'entries/s' });
  const delay = (label: string, r: { p50: number; p99: number; batches: number }): BenchResult[] => [
    { name: `audit.merge_delay_${label} p50 (${r.batches} batches)`, value: r.p50, unit: 'ms', target: '<= 100 ms', goal: { max: 100 } },
    { name: `audit.merge_delay_${label} p99`, value: r.p99, unit: 'ms', target: '<= 1000 ms', goal: { max: 1000 } },
  ];
  // Offline verification first: `countersign audit verify --offline` runs in a process of its own, and after the
  // append runs this process carries their heap (PGlite instances, a million queued rows): measured after them, the
  // same bundle took 8.75 s; alone, 3.9 s (2026-11-28).
  if (parts.has('offline')) results.push(await offlineBench(Number(process.env.BENCH_AUDIT_BUNDLE ?? 1_000_000)));
  if (parts.has('appends')) results.push(...(await appendResults(per, floor, delay)));
  if (parts.has('inclusion')) results.push(inclusionBench());
  if (parts.has('flood')) {
    const pg = await onPostgres(process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres', (database) => appendRates(database, 150, per));
    results.push({ name: `audit.append_postgres_16_writers (${per} entries per transaction, into the signed tree)`, value: Math.round(pg.audited), unit: 'entries/s', baseline: floor(pg.plain), target: '>= 50000 entries/s', goal: { min: 50_000 } });
    results.push(...delay('postgres', pg));
  }
  if (parts.has('sequencer')) {
    const alone = await onPostgres(process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres', (database) => sequencerAlone(database, 100_000));
    results.push({ name: 'audit.sequencer_alone_postgres (100,000 queued entries integrated, batches of 10,000)', value: Math.round(alone), unit: 'entries/s', target: 'report' });
  }
  return results;
}

async function appendResults(per: number, floor: (value: number) => BenchResult['baseline'], delay: (label: string, r: { p50: number; p99: number; batches: number }) => BenchResult[]): Promise<BenchResult[]> {
  const results: BenchResult[] = [];
  const lite = await openDatabase({ dataDir: null });
  await migrate(lite);
  const pglite = await appendRates(lite, 40, per);
  const liteGc = await groupCommitRates(lite, 150);
  await lite.close();
  results.push({ name: `audit.append_pglite_16_writers (${per} entries per transaction, into the signed tree)`, value: Math.round(pglite.audited), unit: 'entries/s', baseline: floor(pglite.plain), target: 'report' });
  results.push(...delay('pglite', pglite));
  results.push({ name: 'audit.append_pglite_16_writers (1 entry per call, group commit)', value: Math.round(liteGc.audited), unit: 'entries/s', baseline: { name: 'plain rows, same group commit (floor)', value: Math.round(liteGc.plain), unit: 'entries/s' }, target: 'report' });

  const url = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  try {
    const pg = await onPostgres(url, (database) => appendRates(database, 150, per));
    results.push({ name: `audit.append_postgres_16_writers (${per} entries per transaction, into the signed tree)`, value: Math.round(pg.audited), unit: 'entries/s', baseline: floor(pg.plain), target: '>= 50000 entries/s', goal: { min: 50_000 } });
    results.push(...delay('postgres', pg));
    const alone = await onPostgres(url, (database) => sequencerAlone(database, 100_000));
    const bound = 1 / (1 / pg.plain + 1 / alone);
    results.push({ name: 'audit.sequencer_alone_postgres (100,000 queued entries integrated, batches of 10,000)', value: Math.round(alone), unit: 'entries/s', target: 'report' });
    results.push({ name: 'audit.append_postgres_16_writers as a share of its two-core bound 1/(1/floor + 1/sequencer alone)', value: Number((pg.audited / bound).toFixed(2)), unit: 'ratio', baseline: { name: 'bound', value: Math.round(bound), unit: 'entries/s' }, target: 'report' });
    const single = await onPostgres(url, (database) => appendRates(database, 300, 1));
    results.push({ name: 'audit.append_postgres_16_writers (1 entry per transaction)', value: Math.round(single.audited), unit: 'entries/s', baseline: floor(single.plain), target: 'report' });
    results.push(...delay('postgres_1_per_tx', single));
    const gc = await onPostgres(url, (database) => groupCommitRates(database, 500));
    results.push({ name: 'audit.append_postgres_16_writers (1 entry per call, group commit)', value: Math.round(gc.audited), unit: 'entries/s', baseline: { name: 'plain rows, same group commit (floor)', value: Math.round(gc.plain), unit: 'entries/s' }, target: 'report' });
  } catch (error) {
    process.stderr.write(`bench/audit: PostgreSQL at ${new URL(url).host} unavailable, skipping (${(error as Error).message})\n`);
  }
  return results;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const r of await run()) console.log(JSON.stringify(r));
}
