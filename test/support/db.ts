import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { sql } from 'drizzle-orm';
import { MIGRATIONS_DIR, migrate, openDatabase, type Database } from '../../gateway/db.ts';

/**
 * In-memory PGlite with every migration applied. Creating a cluster (initdb) costs PGlite 10 to 20 seconds on a busy
 * machine, loading one from a dump about 3, so the first call migrates an empty cluster and dumps it to a file named
 * for the migrations' contents and the PGlite version; later calls, in any process, start from that file. A new
 * migration changes the name, so a stale dump is never loaded.
 */
export async function migratedPglite(): Promise<Database> {
  const hash = createHash('sha256').update(readFileSync(join(MIGRATIONS_DIR, '../node_modules/@electric-sql/pglite/package.json')));
  for (const file of readdirSync(MIGRATIONS_DIR, { recursive: true }).map(String).sort()) {
    if (file.endsWith('.sql') || file.endsWith('.json')) hash.update(file).update(readFileSync(join(MIGRATIONS_DIR, file)));
  }
  const path = join(tmpdir(), `countersign-pglite-${hash.digest('hex').slice(0, 16)}.tar`);
  let dump: Buffer | null = null;
  try {
    dump = readFileSync(path);
  } catch {
    // not made yet
  }
  if (dump) {
    // migrate() again: a no-op for the migrations already in the dump, and whatever else it does still runs.
    const database = await openDatabase({ dataDir: null, loadDataDir: new Blob([new Uint8Array(dump)]) });
    await migrate(database);
    return database;
  }
  const database = await openDatabase({ dataDir: null });
  await migrate(database);
  const fresh = Buffer.from(await (await database.dump!()).arrayBuffer());
  const partial = `${path}.${process.pid}.${randomBytes(4).toString('hex')}`;
  writeFileSync(partial, fresh);
  renameSync(partial, path); // atomic: a concurrent reader sees no file or a whole one
  return database;
}

/**
 * A migrated PGlite emptied for this caller: one instance per worker, kept on `process` (the one object a Vitest
 * vm pool shares between runs of a worker), so Stryker's rerun per mutant (stryker.config.mjs: vmThreads) skips the
 * load from the dump: every kernel table truncated, sequences restarted and listeners dropped, as after migrate. In
 * use already (a second fixture in one file) or left unusable by the last run (a hung transaction): a new one.
 * `release` hands it back; under the threads pool the worker ends with the file, and the instance with it.
 */
export async function reusablePglite(): Promise<Database & { release(): void }> {
  const holder = process as unknown as Record<symbol, { database: Database; busy: boolean } | undefined>;
  const key = Symbol.for('countersign.test.reusablePglite');
  const kept = holder[key];
  if (kept && !kept.busy) {
    kept.busy = true;
    if (await emptied(kept.database)) return { ...kept.database, release: () => void (kept.busy = false) };
    holder[key] = undefined; // unusable: dropped (not closed: a hung query would hang close too)
  }
  const database = await migratedPglite();
  if (kept?.busy && holder[key]) return { ...database, release: () => void database.close() };
  const entry = { database, busy: true };
  holder[key] = entry;
  return { ...database, release: () => void (entry.busy = false) };
}

/** Truncates every table of the public schema (all of them empty after migrate); false if that does not finish in 10 s. */
async function emptied(database: Database): Promise<boolean> {
  const reset = (async () => {
    const tables = await database.db.execute<{ name: string }>(sql`select format('%I.%I', schemaname, tablename) as name from pg_tables where schemaname = 'public'`);
    const names = (tables as unknown as { rows: { name: string }[] }).rows.map((r) => r.name);
    await database.db.execute(sql.raw(`truncate ${names.join(', ')} restart identity cascade; unlisten *`));
    return true;
  })().catch(() => false);
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), 10_000)));
  try {
    return await Promise.race([reset, late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A fresh, migrated database for one test file: in-memory PGlite by default, or a new database on the PostgreSQL
 * server named by TEST_DATABASE_URL (dropped again by `close`). The same suites run on both.
 */
export async function freshDatabase(): Promise<Database> {
  const url = process.env.TEST_DATABASE_URL;
  if (!url) {
    return migratedPglite();
  }
  const name = `cs_test_${randomBytes(6).toString('hex')}`;
  const admin = postgres(url, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database ${name}`);
  const target = new URL(url);
  target.pathname = `/${name}`;
  const database = await openDatabase({ url: target.toString() });
  await migrate(database);
  return {
    ...database,
    async close() {
      await database.close();
      await admin.unsafe(`drop database if exists ${name} with (force)`);
      await admin.end();
    },
  };
}

export const dbKind = process.env.TEST_DATABASE_URL ? 'postgres' : 'pglite';
