import { sql, type SQLWrapper } from 'drizzle-orm';
import { PgDialect } from 'drizzle-orm/pg-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JsonObject, RequestView } from '../../kernel/index.ts';
import { rowsOf } from '../../kernel/audit/store.ts';
import type { Db } from '../../kernel/store/db.ts';
import { freshDatabase } from '../support/db.ts';
import { startKernel, type KernelFixture } from '../support/kernel-fixture.ts';

// Which statements may commit without waiting for the disk (KernelOptions.asyncCommitDb; on PostgreSQL a pool with
// synchronous_commit off, test/integration/read-records.test.ts): a read's record only. Never what a person or an agent
// is told to rely on: a pending or denied request, a consumption, an outcome. An allowed write is recorded in the
// synchronous commit that consumes its grant, before anything runs upstream. Here both handles are the PGlite database
// itself, watched, so each statement's path can be seen.

const dialect = new PgDialect();
const through: string[] = [];
/** What went through the synchronous handle. */
const synchronous: string[] = [];

function watched(db: Db, through: string[]): Db {
  return new Proxy(db, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function' || !['execute', 'insert', 'select', 'update', 'delete', 'with', 'transaction'].includes(String(prop))) return value;
      if (prop !== 'execute') return (...args: unknown[]) => recording((value as (...a: unknown[]) => object).apply(target, args), through);
      return (query: SQLWrapper) => {
        through.push(dialect.sqlToQuery(query.getSQL()).sql);
        return (value as (q: unknown) => unknown).call(target, query);
      };
    },
  });
}

/** A query builder that, when it is run (awaited), records the statement it sends; builders it returns record too. */
function recording<T extends object>(builder: T, through: string[]): T {
  return new Proxy(builder, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        const run = prop === 'then' || prop === 'catch';
        if (run) through.push((target as unknown as { toSQL(): { sql: string } }).toSQL().sql);
        const out: unknown = (value as (...a: unknown[]) => unknown).apply(target, args);
        return out && typeof out === 'object' && !run && !(out instanceof Promise) ? recording(out, through) : out;
      };
    },
  });
}

let k: KernelFixture;
let agentId: string;
beforeAll(async () => {
  const database = await freshDatabase();
  k = await startKernel({
    database: { ...database, db: watched(database.db, synchronous), asyncCommitDb: watched(database.db, through) },
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
    expect(through).toEqual([expect.stringMatching(/^with r as \(insert into requests \(id, /)]);
    expect(await stateOf(read.id)).toBe('succeeded');
  });

  it("writes nothing of an allowed write through it: its claim commits with its grant's consumption, then its outcome", async () => {
    through.length = 0;
    synchronous.length = 0;
    const write = await submit('test_write_note', { key: 'n1', text: 'hello' });
    expect(write.state).toBe('succeeded');
    expect(through).toEqual([]);
    // Of the statements that touch the request and its grant: one inserting both, the grant consumed and audited, then
    // the outcome. No separate consumption (`update "grants"`): the claim and the consumption are one commit.
    const touching = synchronous.filter((q) => /\brequests\b|"grants"/.test(q));
    expect(touching).toEqual([
      expect.stringMatching(/^with "active" as .*insert into "grants" \([^)]*"consumed_at"[^)]*\) values .*insert into audit_queue.*insert into "requests"/s),
      expect.stringMatching(/^with moved as \(update requests set state = /),
    ]);
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
