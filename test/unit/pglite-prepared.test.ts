import { PGlite } from '@electric-sql/pglite';
import { drizzle } from 'drizzle-orm/pglite';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { preparedPglite } from '../../gateway/pglite-prepared.ts';

// Embedded PGlite with prepared statements (gateway/pglite-prepared.ts). What it must keep: every answer as PGlite's
// own query gives it (types, nulls, rows, counts, errors), in and out of transactions; what it must change: a text is
// parsed once, then runs as the same named statement, which the server itself lists (pg_prepared_statements).
describe('PGlite with prepared statements', () => {
  let client: PGlite;
  let prepared: PGlite;
  beforeAll(async () => {
    client = new PGlite();
    await client.waitReady;
    prepared = preparedPglite(client);
    await client.exec(`create table t (id bigserial primary key, doc jsonb, at timestamptz, n numeric, tags text[], note text)`);
  }, 120_000); // a new cluster: seconds on a busy machine
  afterAll(() => client.close());

  const statements = async () =>
    (await client.query<{ name: string; statement: string; from_sql: boolean; generic_plans: number; custom_plans: number }>(`select name, statement, from_sql, generic_plans::int, custom_plans::int from pg_prepared_statements order by name`)).rows;

  it('answers as PGlite does, for the types the gateway stores, and parses each text once', async () => {
    const insert = 'insert into t (doc, at, n, tags, note) values ($1, $2, $3, $4, $5) returning *';
    const at = new Date('2026-11-29T12:00:00.000Z');
    const args = [{ a: [1, 'two', null], 'ü': '\u{1F600}' }, at, '12.50', ['x', 'y'], null];
    const mine = await prepared.query(insert, args);
    const theirs = await client.query(insert, args);
    const sameId = (result: typeof mine) => ({ ...result, rows: result.rows.map((row) => ({ ...(row as object), id: 0 })) });
    expect(sameId(mine)).toEqual(sameId(theirs));
    expect(mine.affectedRows).toBe(1);
    expect(mine.rows[0]).toMatchObject({ doc: args[0], at, n: '12.50', tags: ['x', 'y'], note: null });
    for (let i = 0; i < 8; i++) await prepared.query(insert, [{ i }, at, i, [], `row ${i}`]);
    const select = 'select count(*)::int as n from t where note is not null and n >= $1';
    expect(await prepared.query(select, [3])).toEqual(await client.query(select, [3]));
    expect(await prepared.query(select, [3], { rowMode: 'array' })).toEqual(await client.query(select, [3], { rowMode: 'array' }));
    expect((await prepared.query(select, [3], { rowMode: 'array' })).rows).toEqual([[5]]);
    // A query's own parsers come first, as drizzle brings them (timestamps kept as text); updates count their rows.
    const raw = { parsers: { [1184]: (text: string) => `raw ${text}` } };
    expect(await prepared.query('select at from t where id = $1', [1], raw)).toEqual(await client.query('select at from t where id = $1', [1], raw));
    expect((await prepared.query('select at from t where id = $1', [1], raw)).rows).toEqual([{ at: 'raw 2026-11-29 12:00:00+00' }]);
    const update = 'update t set note = note where id <= 3';
    expect(await prepared.query(update)).toEqual(await client.query(update));
    expect((await prepared.query(update)).affectedRows).toBe(3);

    const kept = (await statements()).filter((s) => !s.from_sql);
    // The update has no parameters: a one-off text, run unnamed, as the PostgreSQL driver treats it.
    expect(kept.map((s) => s.statement).sort()).toEqual([insert, select, 'select at from t where id = $1'].sort());
    const run = kept.find((s) => s.statement === insert)!;
    expect(run.generic_plans + run.custom_plans).toBe(9); // one statement, run nine times
  });

  it('reports a database error with its statement, keeps no statement that failed to parse, and goes on', async () => {
    const before = (await statements()).length;
    const bad = 'select * from no_such_table where id = $1';
    const error = await prepared.query(bad, [1]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    expect(error).toMatchObject({ code: '42P01', query: bad, params: [1] });
    expect((await statements()).length).toBe(before);
    // A statement that parses but fails when run (a unique violation) stays prepared and works next time.
    await client.exec('create table u (k text primary key)');
    const insert = 'insert into u (k) values ($1)';
    await prepared.query(insert, ['a']);
    await expect(prepared.query(insert, ['a'])).rejects.toMatchObject({ code: '23505', query: insert });
    expect((await prepared.query(insert, ['b'])).affectedRows).toBe(1);
    expect((await prepared.query('select k from u where k > $1 order by k', [''])).rows).toEqual([{ k: 'a' }, { k: 'b' }]);
  });

  it('runs inside transactions, which commit or roll back whole, through drizzle as the gateway uses it', async () => {
    const db = drizzle(prepared);
    await db.execute(sql`create table v (k int)`);
    await db.transaction(async (tx) => {
      await tx.execute(sql`insert into v values (${1})`);
      await tx.execute(sql`insert into v values (${2})`);
    });
    await expect(db.transaction(async (tx) => {
      await tx.execute(sql`insert into v values (${3})`);
      throw new Error('changed my mind');
    })).rejects.toThrow('changed my mind');
    // A failed statement inside a transaction aborts it; the next one starts clean.
    await expect(db.transaction(async (tx) => {
      await tx.execute(sql`insert into v values (${4})`);
      await tx.execute(sql`insert into v values (${'not a number'})`);
    })).rejects.toThrow();
    const rows = await db.execute<{ k: number }>(sql`select k from v order by k`);
    expect(rows.rows).toEqual([{ k: 1 }, { k: 2 }]);
    // The statements run inside transactions are the same named ones as outside.
    expect((await statements()).some((s) => s.statement === 'insert into v values ($1)' && !s.from_sql)).toBe(true);
    expect(client.isInTransaction()).toBe(false);
  });

  it('refuses a query on a transaction that has ended', async () => {
    let kept: { query: (text: string) => Promise<unknown> } | undefined;
    await prepared.transaction(async (tx) => void (kept = tx));
    await expect(kept!.query('select 1')).rejects.toThrow('Transaction is closed');
  });
});

describe('PGlite with prepared statements, past its cap', () => {
  it('runs new texts unnamed, with the same answers, and keeps only as many as it may', { timeout: 120_000 }, async () => {
    const client = new PGlite();
    try {
      const prepared = preparedPglite(client, 1);
      expect((await prepared.query('select $1::int + 1 as n', [1])).rows).toEqual([{ n: 2 }]);
      for (let i = 0; i < 3; i++) {
        // Two texts past the cap, in turn: each is parsed again, never run as the other.
        expect((await prepared.query('select $1::text || $2::text as s', ['a', i])).rows).toEqual([{ s: `a${i}` }]);
        expect((await prepared.query('select $1::int * 2 as d', [i])).rows).toEqual([{ d: 2 * i }]);
      }
      await expect(prepared.query('select $1::int as n', ['x'])).rejects.toMatchObject({ code: '22P02' });
      expect((await prepared.query('select $1::int + 1 as n', [2])).rows).toEqual([{ n: 3 }]);
      expect((await prepared.query('select 41 + 1 as n')).rows).toEqual([{ n: 42 }]);
      const kept = (await client.query<{ statement: string }>('select statement from pg_prepared_statements where not from_sql')).rows;
      expect(kept).toEqual([{ statement: 'select $1::int + 1 as n' }]);
    } finally {
      await client.close();
    }
  });
});
