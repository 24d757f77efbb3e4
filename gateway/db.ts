import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql } from 'drizzle-orm';
import type { Db } from '../kernel/index.ts';
import { KernelError } from '../kernel/index.ts';

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

/** Opens PostgreSQL when `url` is given, else embedded PGlite in `dataDir` (or in memory when dataDir is null). */
export async function openDatabase(options: { url?: string; dataDir?: string | null }): Promise<Database> {
  return options.url ? openPostgres(options.url) : openPglite(options.dataDir ?? null);
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
  const db = drizzle(client) as unknown as Db;
  return {
    db,
    kind: 'postgres',
    location: redact(url),
    async listen(channel, onMessage) {
      const sub = await client.listen(channel, onMessage);
      return async () => sub.unlisten();
    },
    async notify(channel, payload) {
      await client.notify(channel, payload);
    },
    close: () => client.end({ timeout: 5 }),
  };
}

async function openPglite(dataDir: string | null): Promise<Database> {
  const { PGlite } = await import('@electric-sql/pglite');
  const { drizzle } = await import('drizzle-orm/pglite');
  if (dataDir) mkdirSync(dataDir, { recursive: true });
  let client: InstanceType<typeof PGlite>;
  try {
    client = dataDir ? new PGlite(join(dataDir, 'pgdata')) : new PGlite();
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
  const db = drizzle(client) as unknown as Db;
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
  };
}

/** Applies drizzle-kit migrations; safe to run on every start. */
export async function migrate(database: Database): Promise<void> {
  if (database.kind === 'pglite') {
    const { migrate: run } = await import('drizzle-orm/pglite/migrator');
    await run(database.db as never, { migrationsFolder: MIGRATIONS_DIR });
  } else {
    const { migrate: run } = await import('drizzle-orm/postgres-js/migrator');
    await run(database.db as never, { migrationsFolder: MIGRATIONS_DIR });
  }
}
