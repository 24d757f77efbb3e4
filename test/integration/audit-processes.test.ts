import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'drizzle-orm';
import { createAuditLog, createNoteSigner, readEntries, verifyStored, type JsonObject, type NoteSigner } from '../../kernel/index.ts';
import type { Database } from '../../gateway/db.ts';
import { freshDatabase } from '../support/db.ts';

/**
 * The sequencer across real processes on one PostgreSQL (PGlite is single-process): a writer killed with SIGKILL
 * between queueing and integration loses nothing, and two processes appending at once produce one tree.
 */
const pg = Boolean(process.env.TEST_DATABASE_URL);
const WRITER = join(import.meta.dirname, '../support/audit-writer.mjs');
let database: Database;
let dir: string;
let signer: NoteSigner;
const children: ChildProcess[] = [];

beforeAll(async () => {
  if (!pg) return;
  database = await freshDatabase();
  dir = mkdtempSync(join(tmpdir(), 'cs-audit-proc-'));
  const { privateKey } = generateKeyPairSync('ed25519');
  const jwk = privateKey.export({ format: 'jwk' }) as JsonObject;
  writeFileSync(join(dir, 'key.json'), JSON.stringify(jwk), { mode: 0o600 });
  signer = createNoteSigner('test.example/countersign/audit', privateKey, { kty: 'OKP', crv: 'Ed25519', x: jwk.x! });
});
afterAll(async () => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  if (!pg) return;
  await database?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Starts a writer; `lines` collects what it printed, `until(text)` waits for a line. */
function writer(name: string, count: number, maxBatch: number) {
  const url = `postgres://${database.location.replace(/^postgres(ql)?:\/\//, '')}`;
  const child = spawn(process.execPath, [WRITER, url, name, String(count), String(maxBatch)], { env: { ...process.env, AUDIT_KEY_FILE: join(dir, 'key.json') }, stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  const committed = new Set<number>();
  const waiting: { test: (line: string) => boolean; done: () => void }[] = [];
  createInterface({ input: child.stdout! }).on('line', (line) => {
    if (line.startsWith('committed ')) committed.add(Number(line.slice(10)));
    for (const w of waiting.splice(0)) (w.test(line) ? w.done() : waiting.push(w));
  });
  const until = (test: (line: string) => boolean) => new Promise<void>((done) => waiting.push({ test, done }));
  return { child, committed, until };
}

async function written(name: string): Promise<number[]> {
  const found: number[] = [];
  for await (const e of readEntries(database.db, { kind: 'test.written' })) if ((e.data as JsonObject).writer === name) found.push((e.data as JsonObject).n as number);
  return found;
}

describe.skipIf(!pg)('the audit sequencer across processes on one PostgreSQL', () => {
  it('loses no committed entry when its process is killed (SIGKILL) between queue and integration', async () => {
    // One entry per batch: commits outrun integration, so the queue holds committed entries when the kill lands.
    const a = writer('crashed', 5000, 1);
    await a.until((line) => line === 'committed 400');
    a.child.kill('SIGKILL');
    await new Promise((r) => a.child.once('exit', r));
    const [queued] = (await database.db.execute(sql`select count(*)::int as n from audit_queue`)) as unknown as { n: number }[];
    expect(queued!.n).toBeGreaterThan(0);
    const audit = createAuditLog(database.db, signer);
    await audit.sync();
    await audit.close();
    const found = await written('crashed');
    expect(new Set(found).size).toBe(found.length); // nothing integrated twice
    for (const n of a.committed) expect(found).toContain(n); // nothing committed lost
    expect(await verifyStored(database.db, [signer.verifierKey])).toMatchObject({ ok: true });
  }, 120_000);

  it('makes one gapless, verifiable tree from two processes appending at once', async () => {
    const before = (await verifyStored(database.db, [signer.verifierKey])).size;
    const [a, b] = [writer('replica-a', 300, 50), writer('replica-b', 300, 50)];
    await Promise.all([a.until((line) => line === 'synced'), b.until((line) => line === 'synced')]);
    a.child.kill('SIGKILL');
    b.child.kill('SIGKILL');
    expect((await written('replica-a')).sort((x, y) => x - y)).toEqual(Array.from({ length: 300 }, (_, i) => i));
    expect((await written('replica-b')).sort((x, y) => x - y)).toEqual(Array.from({ length: 300 }, (_, i) => i));
    const seqs: number[] = [];
    for await (const e of readEntries(database.db)) seqs.push(e.seq);
    expect(seqs).toEqual(Array.from({ length: before + 600 }, (_, i) => i + 1));
    expect(await verifyStored(database.db, [signer.verifierKey])).toMatchObject({ ok: true, size: before + 600, checkpoint: { size: before + 600 } });
  }, 120_000);
});
