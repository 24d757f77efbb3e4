import { hash, randomBytes } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { exportJWK, generateKeyPair } from 'jose';
import postgres from 'postgres';
import { migrate, openDatabase, type Database } from '../gateway/db.ts';
import { GENESIS_HASH, computeEntryHash, createAuditLog, createJwsSigner, jcs, verifyChain, verifyStored, type AuditEntry, type JsonObject } from '../kernel/index.ts';
import { entryJcs } from '../kernel/audit/entry.ts';
import type { BenchResult } from './types.ts';

const WRITERS = 16;

async function signer() {
  const { privateKey, publicKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
  return createJwsSigner(privateKey, (await exportJWK(publicKey)) as JsonObject);
}

const sample = (i: number) => ({ kind: 'request.received', requestId: `req_${i}`, actor: 'agent:bench', data: { tool: 'stripe_create_refund', args: { charge: `ch_${i}`, amount: 12000 } } });

/** Operations per second of `WRITERS` concurrent loops, each awaiting one `op` at a time, `perWriter` times. */
async function concurrentRate(perWriter: number, op: (writer: number, i: number) => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await Promise.all(Array.from({ length: WRITERS }, async (_, w) => {
    for (let i = 0; i < perWriter; i++) await op(w, i);
  }));
  return (WRITERS * perWriter) / ((performance.now() - start) / 1000);
}

/** Chained appends/s against plain single-row inserts into a similar table, on one database. */
async function appendRates(database: Database, perWriter: number): Promise<{ chained: number; plain: number }> {
  const { db } = database;
  await db.execute(sql`create table bench_plain (id bigserial primary key, at text not null, kind text not null, request_id text, actor text not null, data jsonb not null)`);
  const key = await signer();
  const audit = createAuditLog(db, key);
  const plainInsert = (w: number, i: number) => {
    const s = sample(w * perWriter + i);
    return db.execute(sql`insert into bench_plain (at, kind, request_id, actor, data) values (${new Date().toISOString()}, ${s.kind}, ${s.requestId}, ${s.actor}, ${JSON.stringify(s.data)}::jsonb)`);
  };
  // Both paths warm up alike (JIT, plans, caches) before either is measured.
  await concurrentRate(Math.ceil(perWriter / 5), (w, i) => audit.append([sample(w * 100_000 + i)]));
  await concurrentRate(Math.ceil(perWriter / 5), plainInsert);
  const chained = await concurrentRate(perWriter, (w, i) => audit.append([sample(w * perWriter + i)]));
  const plain = await concurrentRate(perWriter, plainInsert);
  const result = await verifyStored(db, [key.publicJwk]);
  if (!result.ok) throw new Error(`bench chain does not verify: ${JSON.stringify(result.firstBad)}`);
  await audit.close();
  return { chained, plain };
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

function memoryChain(count: number): AuditEntry[] {
  const entries: AuditEntry[] = [];
  let prevHash = GENESIS_HASH;
  const at = new Date().toISOString();
  for (let seq = 1; seq <= count; seq++) {
    const s = sample(seq);
    const base = { seq, at, kind: s.kind, requestId: s.requestId, actor: s.actor, data: s.data, prevHash };
    prevHash = computeEntryHash(base);
    entries.push({ ...base, hash: prevHash });
  }
  return entries;
}

/**
 * Audit throughput: appends/s with 16 concurrent writers on PGlite and PostgreSQL (baseline: unchained single-row
 * inserts into a similar table), and chain verification entries/s in memory (baseline: bare sha256 over the same bytes).
 */
export async function run(): Promise<BenchResult[]> {
  const results: BenchResult[] = [];

  const lite = await openDatabase({ dataDir: null });
  await migrate(lite);
  const pglite = await appendRates(lite, 150);
  await lite.close();
  results.push({ name: 'audit.append_pglite_16_writers', value: Math.round(pglite.chained), unit: 'appends/s', baseline: { name: 'plain single-row inserts', value: Math.round(pglite.plain) } });

  const url = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  try {
    const pg = await onPostgres(url, (database) => appendRates(database, 500));
    results.push({ name: 'audit.append_postgres_16_writers', value: Math.round(pg.chained), unit: 'appends/s', baseline: { name: 'plain single-row inserts', value: Math.round(pg.plain) }, target: '>= 10000 appends/s' });
  } catch (error) {
    process.stderr.write(`bench/audit: PostgreSQL at ${new URL(url).host} unavailable, skipping (${(error as Error).message})\n`);
  }

  const count = 200_000;
  const chain = memoryChain(count);
  const start = performance.now();
  const verified = await verifyChain(chain, [], []);
  const verifySeconds = (performance.now() - start) / 1000;
  if (!verified.ok || verified.entries !== count) throw new Error('bench chain does not verify');
  // Baseline: only the hashing, over the bytes verifyChain hashes (prev hash || JCS(entry)), prepared beforehand.
  const bytes = chain.map((e) => e.prevHash + entryJcs(e.seq, e.at, e.kind, e.requestId, e.actor, jcs(e.data)));
  const hashStart = performance.now();
  for (const text of bytes) hash('sha256', text, 'hex');
  const hashSeconds = (performance.now() - hashStart) / 1000;
  results.push({ name: 'audit.verify_200k_in_memory', value: Math.round(count / verifySeconds), unit: 'entries/s', baseline: { name: 'bare one-shot sha256 over the same bytes', value: Math.round(count / hashSeconds) }, target: '>= 200000 entries/s' });
  return results;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const r of await run()) console.log(JSON.stringify(r));
}
