import { sql, type SQLWrapper } from 'drizzle-orm';
import { PgDialect } from 'drizzle-orm/pg-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { JsonObject, RequestView } from '../../kernel/index.ts';
import type { Db } from '../../kernel/store/db.ts';
import { rowsOf } from '../../kernel/audit/store.ts';
import type { Database } from '../../gateway/db.ts';
import { defineTool, type Connector } from '../../tools/spec.ts';
import { freshDatabase } from '../support/db.ts';
import { startKernel, type KernelFixture } from '../support/kernel-fixture.ts';

// A read's record is written through the database's asynchronous-commit connections (KernelOptions.asyncCommitDb):
// on PostgreSQL its commit waits for no fsync. Which statements take that path: test/unit/async-commit.test.ts.

const dialect = new PgDialect();

/** While set, statements through the watched handle wait for it: a record statement held in flight. */
let gate: Promise<void> | null = null;

/** The same database handle, telling which statements went through it. */
function watched(db: Db, seen: string[]): Db {
  return new Proxy(db, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (prop !== 'execute' || typeof value !== 'function') return value;
      return async (query: SQLWrapper) => {
        seen.push(dialect.sqlToQuery(query.getSQL()).sql);
        await gate;
        return (value as (q: unknown) => unknown).call(target, query);
      };
    },
  });
}

/** While set, the `held` connector's reads wait for it upstream: answers that arrive together. */
let upstream: { gate: Promise<void>; waiting: number } | null = null;
const held: Connector = {
  name: 'held',
  sandbox: true,
  tools: [defineTool({
    name: 'held_read',
    title: 'Read, held upstream',
    description: 'Answers once the test lets it.',
    input: z.object({}),
    impact: 'read',
    consequence: 'reads',
    describe: async () => ({ summary: 'Read, held upstream', consequence: 'reads', reversible: true, fields: [], pins: {} }),
    async execute() {
      if (upstream) upstream.waiting++, await upstream.gate;
      return { data: {}, text: 'held' };
    },
  })],
};

let database: Database;
let k: KernelFixture;
let agentId: string;
const seen: string[] = [];

beforeAll(async () => {
  database = await freshDatabase();
  // On PGlite there is no such handle: the main one is watched in its place, so the routing is tested on both.
  const asyncCommitDb = watched(database.asyncCommitDb ?? database.db, seen);
  k = await startKernel({ database: { ...database, asyncCommitDb }, policy: { default: 'allow', rules: [] }, connectors: [held] });
  agentId = await k.addAgent('reader', 'reader@example.com');
}, 120_000);
afterAll(async () => {
  await k?.close();
  await database?.close();
});

async function until(done: () => boolean): Promise<void> {
  for (let waited = 0; !done(); waited += 5) {
    if (waited > 10_000) throw new Error('waited 10 s');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

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

  it('records the reads whose answers arrive in one turn of the event loop in one statement, with none in flight', async () => {
    let release = () => {};
    upstream = { gate: new Promise((resolve) => (release = resolve)), waiting: 0 };
    const before = seen.length;
    const reads = Array.from({ length: 4 }, () => submit('held_read', {}));
    await until(() => upstream!.waiting === 4);
    expect(seen.length - before).toBe(0);
    upstream = null;
    release();
    expect((await Promise.all(reads)).map((r) => r.state)).toEqual(Array(4).fill('succeeded'));
    // The first to end waits for the rest of that turn, then all four go in one statement.
    expect(seen.length - before).toBe(1);
  });

  it('records the reads that end while a record statement is in flight together, next, each as it would be alone', async () => {
    let open = () => {};
    gate = new Promise((resolve) => (open = resolve));
    const before = seen.length;
    const first = submit('test_read_note', { key: 'welcome' });
    await until(() => seen.length > before);
    const rest = Array.from({ length: 6 }, () => submit('test_read_note', { key: 'welcome' }));
    await new Promise((resolve) => setTimeout(resolve, 300)); // they ran upstream and wait for the statement in flight
    expect(seen.length - before).toBe(1);
    gate = null;
    open();
    const reads = await Promise.all([first, ...rest]);
    expect(seen.length - before).toBe(2);
    expect(reads.map((r) => r.state)).toEqual(Array(7).fill('succeeded'));
    expect(new Set(reads.map((r) => r.id)).size).toBe(7);
    for (const read of reads) {
      // Each is stored as it was answered, with its own grant and its own audit entries, in order.
      expect(await k.admin.send<JsonObject>('kernel', { op: 'request.get', requestId: read.id })).toEqual(read);
      const grants = rowsOf<{ n: number }>(await k.database.db.execute(sql`select count(*)::int as n from grants where request_id = ${read.id} and consumed_at is not null`));
      expect(grants[0]!.n).toBe(1);
      const kinds = rowsOf<{ kind: string }>(await k.database.db.execute(sql`select kind from audit_queue where request_id = ${read.id} union all select kind from audit_entries where request_id = ${read.id}`));
      expect(kinds.map((e) => e.kind).sort()).toEqual(['execution.started', 'execution.succeeded', 'grant.minted', 'policy.decided', 'request.received']);
    }
  });

  it('retries a group the database refused one read at a time: a read it cannot store fails alone', async () => {
    await k.database.db.execute(sql.raw(`create or replace function refuse_poison() returns trigger language plpgsql as $$
      begin if new.body->'args'->>'key' = 'poison' then raise exception 'this row is refused'; end if; return new; end $$`));
    await k.database.db.execute(sql`create trigger refuse_poison before insert on requests for each row execute function refuse_poison()`);
    try {
      let open = () => {};
      gate = new Promise((resolve) => (open = resolve));
      const before = seen.length;
      const first = submit('test_read_note', { key: 'welcome' });
      await until(() => seen.length > before);
      const rest = ['welcome', 'poison', 'welcome'].map((key) => submit('test_read_note', { key }).then((r) => r.state, (e: Error) => `refused: ${e.message}`));
      await new Promise((resolve) => setTimeout(resolve, 300));
      gate = null;
      open();
      expect((await first).state).toBe('succeeded');
      // The database's refusal (the trigger's) reaches that read's caller; its row is not stored, the others' are.
      expect(await Promise.all(rest)).toEqual(['succeeded', 'refused: internal error: this row is refused', 'succeeded']);
      const poisoned = rowsOf<{ n: number }>(await k.database.db.execute(sql`select count(*)::int as n from requests where body->'args'->>'key' = 'poison'`));
      expect(poisoned[0]!.n).toBe(0);
      // The one in flight, the group of three, then each of the three alone.
      expect(seen.length - before).toBe(5);
    } finally {
      gate = null;
      await k.database.db.execute(sql`drop trigger refuse_poison on requests`);
    }
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
