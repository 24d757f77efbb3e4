import { sql, type SQLWrapper } from 'drizzle-orm';
import { PgDialect } from 'drizzle-orm/pg-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JsonObject, RequestView } from '../../kernel/index.ts';
import type { Db } from '../../kernel/store/db.ts';
import { rowsOf } from '../../kernel/audit/store.ts';
import type { Database } from '../../gateway/db.ts';
import { freshDatabase } from '../support/db.ts';
import { startKernel, type KernelFixture } from '../support/kernel-fixture.ts';

// A read's record is written through the database's asynchronous-commit connections (KernelOptions.asyncCommitDb):
// on PostgreSQL its commit waits for no fsync. Which statements take that path: test/unit/async-commit.test.ts.

const dialect = new PgDialect();

/** The same database handle, telling which statements went through it. */
function watched(db: Db, seen: string[]): Db {
  return new Proxy(db, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (prop !== 'execute' || typeof value !== 'function') return value;
      return (query: SQLWrapper) => {
        seen.push(dialect.sqlToQuery(query.getSQL()).sql);
        return (value as (q: unknown) => unknown).call(target, query);
      };
    },
  });
}

let database: Database;
let k: KernelFixture;
let agentId: string;
const seen: string[] = [];

beforeAll(async () => {
  database = await freshDatabase();
  // On PGlite there is no such handle: the main one is watched in its place, so the routing is tested on both.
  const asyncCommitDb = watched(database.asyncCommitDb ?? database.db, seen);
  k = await startKernel({ database: { ...database, asyncCommitDb }, policy: { default: 'allow', rules: [] } });
  agentId = await k.addAgent('reader', 'reader@example.com');
}, 120_000);
afterAll(async () => {
  await k?.close();
  await database?.close();
});

const submit = (tool: string, args: JsonObject) => k.admin.send<JsonObject>('kernel', { op: 'request.submit', agentId, tool, args }) as unknown as Promise<RequestView>;

describe('read records', () => {
  it('records an allowed read through the asynchronous-commit handle, in one statement', async () => {
    const before = seen.length;
    const read = await submit('test_read_note', { key: 'welcome' });
    expect(read.state).toBe('succeeded');
    expect(seen.length - before).toBe(1);
    expect(seen.at(-1)).toMatch(/^with r as \(insert into requests \(id, /);
    const [row] = rowsOf<{ state: string }>(await k.database.db.execute(sql`select state from requests where id = ${read.id}`));
    expect(row?.state).toBe('succeeded');
  });

  it.runIf(Boolean(process.env.TEST_DATABASE_URL))('commits asynchronously on PostgreSQL only through that handle', async () => {
    const setting = async (db: Db) => {
      return rowsOf<{ synchronous_commit: string }>(await db.execute(sql`show synchronous_commit`))[0]!.synchronous_commit;
    };
    expect(database.kind).toBe('postgres');
    expect(await setting(database.asyncCommitDb!)).toBe('off');
    expect(await setting(database.db)).toBe('on');
  });
});
