import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
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
