import { sql, type SQLWrapper } from 'drizzle-orm';
import { PgDialect } from 'drizzle-orm/pg-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JsonObject, RequestView } from '../../kernel/index.ts';
import { rowsOf } from '../../kernel/audit/store.ts';
import type { Db } from '../../kernel/store/db.ts';
import { freshDatabase } from '../support/db.ts';
import { startKernel, type KernelFixture } from '../support/kernel-fixture.ts';

// Which statements may commit without waiting for the disk (KernelOptions.asyncCommitDb; on PostgreSQL a pool with
// synchronous_commit off, test/integration/read-records.test.ts): a read's record, and an allowed write's claim, whose
// grant the executor consumes in a synchronous commit before anything runs upstream. Never what a person or an agent
// is told to rely on: a pending or denied request, a consumption, an outcome. Here the handle is the PGlite database
// itself, watched, so each statement's path can be seen.

const dialect = new PgDialect();
const through: string[] = [];

function watched(db: Db): Db {
  return new Proxy(db, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function' || !['execute', 'insert', 'select', 'update', 'delete', 'with', 'transaction'].includes(String(prop))) return value;
      if (prop !== 'execute') {
        // Only whole statements sent through `execute`, and inserts built on it (`with ... insert`), are expected here.
        return (...args: unknown[]) => {
          through.push(`${String(prop)}()`);
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      }
      return (query: SQLWrapper) => {
        through.push(dialect.sqlToQuery(query.getSQL()).sql);
        return (value as (q: unknown) => unknown).call(target, query);
      };
    },
  });
}

let k: KernelFixture;
let agentId: string;
beforeAll(async () => {
  const database = await freshDatabase();
  k = await startKernel({
    database: { ...database, asyncCommitDb: watched(database.db) },
    policy: {
      default: 'deny',
      rules: [
        { id: 'reads', tools: ['test_read_note'], decision: 'allow' },
        { id: 'writes', tools: ['test_write_note'], when: 'args.key != "ask"', decision: 'allow' },
        { id: 'asks', tools: ['test_write_note'], decision: 'approve' },
      ],
    },
  });
  agentId = await k.addAgent('bot', 'owner@example.com');
}, 120_000);
afterAll(async () => k?.close());

const submit = (tool: string, args: JsonObject) => k.admin.send<JsonObject>('kernel', { op: 'request.submit', agentId, tool, args }) as unknown as Promise<RequestView>;
const stateOf = async (id: string) => rowsOf<{ state: string }>(await k.database.db.execute(sql`select state from requests where id = ${id}`))[0]?.state;

describe('asynchronous commits', () => {
  it("writes an allowed read's record through it, in one statement", async () => {
    through.length = 0;
    const read = await submit('test_read_note', { key: 'welcome' });
    expect(read.state).toBe('succeeded');
    expect(through).toEqual([expect.stringMatching(/^with "?r"? as \(insert into "requests"/)]);
    expect(await stateOf(read.id)).toBe('succeeded');
  });

  it("writes an allowed write's claim through it, and its consumption and outcome not", async () => {
    through.length = 0;
    const write = await submit('test_write_note', { key: 'n1', text: 'hello' });
    expect(write.state).toBe('succeeded');
    // Its one statement (`with active, grant, audit insert request`), built from the handle's select and insert.
    expect(through).toEqual(['select()', 'insert()', 'with()']);
    expect(await stateOf(write.id)).toBe('succeeded');
  });

  it('writes nothing through it for a request that waits for a human or is denied', async () => {
    through.length = 0;
    const pending = await submit('test_write_note', { key: 'ask', text: 'may I' });
    expect(pending.state).toBe('pending');
    const denied = await submit('test_delete_all', { confirm: 'yes' });
    expect(denied.state).toBe('denied');
    expect(through).toEqual([]);
    expect(await stateOf(pending.id)).toBe('pending');
    expect(await stateOf(denied.id)).toBe('denied');
  });
});
