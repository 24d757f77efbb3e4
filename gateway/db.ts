import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql } from 'drizzle-orm';
import type { Db } from '../kernel/index.ts';
import { KernelError } from '../kernel/index.ts';
import { adoptChain } from './upgrade/adopt-chain.ts';
import { preparedPglite } from './pglite-prepared.ts';

export const MIGRATIONS_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'migrations');

export interface Database {
  db: Db;
  kind: 'pglite' | 'postgres';
  /** Where it lives, for messages: a directory for PGlite, the URL without password for PostgreSQL. */
  location: string;
  /** Subscribe to a channel (LISTEN/NOTIFY on both drivers). Returns an unsubscribe function. */
  listen(channel: string, onMessage: (payload: string) => void): Promise<() => Promise<void>>;
  notify(channel: string, payload: string): Promise<void>;
  close(): Promise<void>;
  /**
   * PostgreSQL only: the same database through connections whose commits return before the WAL is on disk
   * (synchronous_commit off), for a read's record (KernelOptions.asyncCommitDb). Connects when first used.
   */
  asyncCommitDb?: Db;
  /** PGlite only: the data directory as a tarball, for `openDatabase({ loadDataDir })`. */
  dump?(): Promise<Blob>;
}

function redact(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparseable DATABASE_URL)';
  }
}

/**
 * A home remembers which database holds its state (`database.json`, written on first open). Opened later without
 * DATABASE_URL, a PostgreSQL home would otherwise get a fresh, empty embedded database and answer "No agents yet" as
 * if nothing existed; opened with one, an embedded home would leave its data behind. Both are refused with the fix.
 */
export function checkHomeDatabase(home: string, url: string | undefined): void {
  const file = join(home, 'database.json');
  const now = url ? { kind: 'postgres', location: redact(url) } : { kind: 'pglite', location: join(home, 'db') };
  const before = ((): { kind?: unknown; location?: unknown } | null => {
    try {
      return JSON.parse(readFileSync(file, 'utf8')) as { kind?: unknown; location?: unknown };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw new KernelError('config_error', `${file} is not readable JSON (${(error as Error).message}); delete it and Countersign writes it again at the next start`);
    }
  })();
  const forget = `delete ${file} (it only records which database this home uses)`;
  if (before?.kind === 'postgres' && now.kind === 'pglite') {
    throw new KernelError('config_error', `${home} keeps its state in PostgreSQL (${String(before.location)}), but DATABASE_URL is not set, so an empty embedded database would be opened instead. Set DATABASE_URL to that database; or, to start this home over on an embedded database, ${forget}.`);
  }
  if (before?.kind === 'pglite' && now.kind === 'postgres') {
    throw new KernelError('config_error', `${home} keeps its state in its embedded database (${String(before.location)}), and DATABASE_URL points to PostgreSQL (${now.location}), which holds none of it. Unset DATABASE_URL to keep using it; or, to start this home over on PostgreSQL (the embedded data stays behind, unused), ${forget}.`);
  }
}

/** Records the database a home was just opened with (after it opened: a mistyped DATABASE_URL marks nothing). */
export function rememberHomeDatabase(home: string, url: string | undefined): void {
  const file = join(home, 'database.json');
  const now = `${JSON.stringify(url ? { kind: 'postgres', location: redact(url) } : { kind: 'pglite', location: join(home, 'db') })}\n`;
  let before = '';
  try {
    before = readFileSync(file, 'utf8');
  } catch {
    // first open
  }
  if (before === now) return;
  mkdirSync(home, { recursive: true });
  writeFileSync(file, now);
}

/**
 * Opens PostgreSQL when `url` is given, else embedded PGlite in `dataDir` (or in memory when dataDir is null).
 * `loadDataDir` starts PGlite from a dump (`dumpDataDir`) instead of an empty cluster: tests use a migrated one.
 */
export async function openDatabase(options: { url?: string; dataDir?: string | null; loadDataDir?: Blob }): Promise<Database> {
  return options.url ? openPostgres(options.url) : openPglite(options.dataDir ?? null, options.loadDataDir);
}

async function openPostgres(url: string): Promise<Database> {
  const { default: postgres } = await import('postgres');
  const { drizzle } = await import('drizzle-orm/postgres-js');
  const client = postgres(url, { max: 10, onnotice: () => {}, connect_timeout: 10 });
  try {
    await client`select 1`;
  } catch (error) {
    await client.end({ timeout: 1 }).catch(() => {});
    throw new KernelError(
      'database_unavailable',
      `cannot reach PostgreSQL at ${redact(url)}: ${(error as Error).message}. ` +
        'Check that the server is running and accepts connections, and that DATABASE_URL names an existing database.',
      undefined,
      { cause: error },
    );
  }
  const db = lean(drizzle(preparing(client)));
  // A commit here waits for no fsync: 0.22 ms on the bench machine's quiet disk, 2.7-3.5 ms while it was loaded
  // (2026-11-29), which a read's answer waited for after its upstream call. Its own small pool; the setting is sent as each connection opens.
  const relaxed = postgres(url, { max: 4, onnotice: () => {}, connect_timeout: 10, connection: { synchronous_commit: 'off' } });
  return {
    db,
    asyncCommitDb: lean(drizzle(preparing(relaxed))),
    kind: 'postgres',
    location: redact(url),
    async listen(channel, onMessage) {
      const sub = await client.listen(channel, onMessage);
      return async () => sub.unlisten();
    },
    async notify(channel, payload) {
      await client.notify(channel, payload);
    },
    close: async () => void (await Promise.all([client.end({ timeout: 5 }), relaxed.end({ timeout: 5 })])),
  };
}

/**
 * Drizzle as the gateway uses it. Building a statement, drizzle asks its dialect for each parameter's type hint
 * (`prepareTyping`: json, timestamp, uuid...), a chain of class checks that took over a quarter of building a read's
 * record (bench/NOTES.md, twelfth pass). Only the AWS Data API driver reads those hints; postgres.js and PGlite take
 * the parameters without them, so the gateway's handles skip the hints.
 */
export function lean(db: unknown): Db {
  const dialect = (db as { dialect?: { prepareTyping?: unknown } }).dialect;
  if (typeof dialect?.prepareTyping !== 'function') throw new Error('drizzle-orm changed: PgDatabase has no dialect.prepareTyping to turn off; see lean() in gateway/db.ts');
  dialect.prepareTyping = undefined;
  return db as Db;
}

/**
 * A debugging aid for benchmarks (bench/mcp/gateway.ts, BENCH_SQL_LOG): while `counts` is a map, every statement sent
 * to PostgreSQL through drizzle counts there under its text. Off (null) unless a bench turns it on.
 */
export const statementLog: { counts: Map<string, number> | null } = { counts: null };

type Unsafe = (text: string, params?: unknown[], options?: { prepare?: boolean }) => unknown;

/**
 * drizzle sends every unnamed query as `unsafe(text, params, { prepare: false })`, and postgres.js then asks the server
 * to describe each statement with parameters before it can bind them: two round trips per statement, every time.
 * Prepared statements (cached per connection by their text) take one round trip after the first use; the texts are
 * drizzle's fixed query shapes, so the cache stays small. Transactions and savepoints get the same treatment.
 */
function preparing<T extends object>(sql: T): T {
  return new Proxy(sql, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      if (prop === 'unsafe') {
        return (text: string, params?: unknown[], options?: { prepare?: boolean }) => {
          statementLog.counts?.set(text, (statementLog.counts.get(text) ?? 0) + 1);
          return (value as Unsafe).call(target, text, params, params?.length ? { ...options, prepare: true } : options);
        };
      }
      if (prop === 'begin' || prop === 'savepoint') {
        return (...args: unknown[]) => {
          const body = args.pop() as (tx: object) => unknown;
          return (value as (...a: unknown[]) => unknown).apply(target, [...args, (tx: object) => body(preparing(tx))]);
        };
      }
      return value;
    },
  });
}

/**
 * Embedded PostgreSQL settings: 16 MB of shared buffers instead of PGlite's 160 MB. One process is its only user, its
 * data files are in the OS page cache anyway, and resident memory drops by about 120 MB (bench/RESULTS.md, mcp).
 * With it, the database's WebAssembly memory holds about 30 MB resident (bench/NOTES.md, eighth pass): the other
 * memory settings (work_mem, temp_buffers, wal_buffers) are not touched by the gateway's statements and stay default.
 */
export const PGLITE_CONF = ['shared_buffers=16MB'];

/**
 * Creates a new cluster (initdb) in a child process that exits when done. In this process, initdb's second
 * WebAssembly instance and the compilation of both modules left about 130 MB of freed native memory that the C
 * allocator keeps for the life of the process (a first start on an empty home: 326 MB RSS after opening, against
 * 205 MB when the cluster already exists; bench/NOTES.md, eighth pass). The child loads the same package, resolved from here.
 */
async function createCluster(path: string): Promise<void> {
  const pglite = createRequire(import.meta.url).resolve('@electric-sql/pglite');
  const script = `const { PGlite } = require(process.argv[1]);
    const db = new PGlite(process.argv[2], { postgresqlconf: JSON.parse(process.argv[3]) });
    db.waitReady.then(() => db.close()).catch((error) => {
      process.stderr.write(error instanceof Error ? error.message : JSON.stringify(error)); // PGlite's file errors: {name, errno}
      process.exit(1);
    });`;
  const child = spawn(process.execPath, ['-e', script, pglite, path, JSON.stringify(PGLITE_CONF)], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const [code, signal] = (await once(child, 'close')) as [number | null, NodeJS.Signals | null];
  if (code !== 0) throw new Error(`creating the cluster failed (${signal ?? `exit code ${code}`}): ${stderr.trim().slice(-500) || 'no message'}`);
}

async function openPglite(dataDir: string | null, loadDataDir?: Blob): Promise<Database> {
  const { PGlite } = await import('@electric-sql/pglite');
  const { drizzle } = await import('drizzle-orm/pglite');
  if (dataDir) mkdirSync(dataDir, { recursive: true });
  let client: InstanceType<typeof PGlite>;
  try {
    const path = dataDir && join(dataDir, 'pgdata');
    // A dump is unpacked without initdb, so only an empty cluster is created apart.
    const fresh = path && !existsSync(join(path, 'PG_VERSION'));
    if (fresh && !loadDataDir) await createCluster(path);
    client = path ? new PGlite(path, { loadDataDir: fresh ? loadDataDir : undefined, postgresqlconf: PGLITE_CONF })
      : new PGlite({ loadDataDir, postgresqlconf: PGLITE_CONF });
    await client.waitReady;
  } catch (error) {
    throw new KernelError(
      'database_unavailable',
      `cannot open the embedded database in ${dataDir ?? 'memory'}: ${(error as Error).message}. ` +
        'Check that the directory is writable and not used by another Countersign process.',
      undefined,
      { cause: error },
    );
  }
  const db = lean(drizzle(preparedPglite(client)));
  return {
    db,
    kind: 'pglite',
    location: dataDir ?? 'memory',
    async listen(channel, onMessage) {
      return client.listen(channel, onMessage);
    },
    async notify(channel, payload) {
      await db.execute(sql`select pg_notify(${channel}, ${payload})`);
    },
    close: () => client.close(),
    dump: () => client.dumpDataDir('none'),
  };
}

/** Applies drizzle-kit migrations; safe to run on every start. */
export async function migrate(database: Database): Promise<void> {
  // Most starts and every offline command find nothing to do; drizzle would read and hash every file to say so.
  if (await upToDate(database.db)) return;
  if (database.kind === 'pglite') {
    const { migrate: run } = await import('drizzle-orm/pglite/migrator');
    await run(database.db as never, { migrationsFolder: MIGRATIONS_DIR });
  } else {
    const { migrate: run } = await import('drizzle-orm/postgres-js/migrator');
    await run(database.db as never, { migrationsFolder: MIGRATIONS_DIR });
  }
  // Migration 0007 made the audit log a Merkle tree; an install upgraded past it adopts its old hash chain here.
  await adoptChain(database.db);
}

/**
 * True when there is nothing to migrate or adopt: drizzle applies exactly the migrations whose journal time is later
 * than the newest it recorded, and a chain from before migration 0007 starts at seq 1 and is adopted whole (one
 * transaction), so its first entry still lacks a leaf hash until then. Any doubt (a fresh or older database, where the
 * tables or columns asked about do not exist yet) answers false, and the full migration runs.
 */
async function upToDate(db: Db): Promise<boolean> {
  const journal = JSON.parse(readFileSync(join(MIGRATIONS_DIR, 'meta', '_journal.json'), 'utf8')) as { entries: { when: number }[] };
  const newest = Math.max(...journal.entries.map((entry) => entry.when));
  try {
    const result = await db.execute(sql`select (select max(created_at) from drizzle.__drizzle_migrations) as applied,
      exists (select 1 from audit_entries where seq = 1 and leaf_hash is null) as unadopted`);
    const [row] = (Array.isArray(result) ? result : (result as { rows: unknown[] }).rows) as { applied: string | number | null; unadopted: boolean }[];
    return row !== undefined && row.applied !== null && Number(row.applied) >= newest && !row.unadopted;
  } catch {
    return false;
  }
}
