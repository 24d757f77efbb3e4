import { PGlite } from '@electric-sql/pglite';
import { and, eq, isNull, sql } from 'drizzle-orm';
import { drizzle as pgliteDrizzle } from 'drizzle-orm/pglite';
import { drizzle as postgresDrizzle } from 'drizzle-orm/postgres-js';
import type { PgDialect } from 'drizzle-orm/pg-core';
import postgres from 'postgres';
import { afterAll, describe, expect, it } from 'vitest';
import { lean } from '../../gateway/db.ts';
import { preparedPglite } from '../../gateway/pglite-prepared.ts';
import { agents, grants, requests } from '../../kernel/store/schema.ts';
import type { Db } from '../../kernel/index.ts';

// gateway/db.ts `lean`: the gateway's drizzle handles build statements without drizzle's per-parameter type hints,
// which only the AWS Data API driver reads. What must not change: the text and the parameters every statement sends.
describe('drizzle without type hints (lean)', () => {
  const client = postgres('postgres://127.0.0.1:1/never-connected', { max: 1 });
  afterAll(() => client.end({ timeout: 0 }));
  const dialectOf = (db: Db) => (db as unknown as { dialect: PgDialect }).dialect;

  // Statements shaped like the kernel's hottest ones: json bodies, timestamps, SQL values, CTEs, returning.
  const statements = (db: Db) => {
    const at = new Date('2026-11-29T12:00:00.000Z');
    const body = { tool: 't', args: { text: 'ü\u{1F600}', n: [1, null] } };
    const active = db.$with('active').as(db.select({ id: agents.id }).from(agents).where(and(eq(agents.id, 'a'), isNull(agents.revokedAt))).for('share'));
    const grant = db.$with('w0', {}).as(db.insert(grants).values({ jti: 'j', requestId: 'r', digest: 'd', expiresAt: at, consumedAt: sql`now()` }).getSQL());
    const values = { id: 'r', digest: 'd', agentId: sql`(select id from active)`, tool: 't', body, intent: { summary: 's', pins: {} }, verdict: { decision: 'allow', ruleId: null }, state: 'executing', ruleId: null, expiresAt: at, createdAt: at, approvers: null, attempt: 1 };
    return [
      db.with(active, grant).insert(requests).values(values as unknown as typeof requests.$inferInsert).returning({ id: requests.id }),
      db.update(requests).set({ state: 'succeeded', updatedAt: at, result: { content: [] } as unknown as typeof requests.$inferInsert['result'], error: null, leaseUntil: null }).where(and(eq(requests.id, 'r'), eq(requests.attempt, 2))),
      db.select().from(requests).where(eq(requests.digest, 'd')),
    ];
  };

  it('sends the same text and parameters as drizzle does', () => {
    const plain = postgresDrizzle(client) as unknown as Db;
    const thin = lean(postgresDrizzle(client));
    const [mine, theirs] = [statements(thin), statements(plain)];
    for (const [i, statement] of mine.entries()) expect(statement.toSQL()).toEqual(theirs[i]!.toSQL());
    // …and it took effect: drizzle's hints for the json and timestamp parameters are gone.
    const hints = (db: Db) => dialectOf(db).sqlToQuery(statements(db)[1]!.getSQL()).typings;
    expect(hints(plain)).toEqual(expect.arrayContaining(['json', 'timestamp']));
    expect(new Set(hints(thin))).toEqual(new Set(['none']));
  });

  it('stores and reads back what drizzle would, on embedded PGlite', { timeout: 120_000 }, async () => {
    const pglite = new PGlite();
    try {
      const db = lean(pgliteDrizzle(preparedPglite(pglite)));
      await pglite.exec(`create table grants (jti text primary key, request_id text not null, digest text not null, expires_at timestamptz not null, consumed_at timestamptz, created_at timestamptz not null default now())`);
      const row = { jti: 'j1', requestId: 'r1', digest: 'd', expiresAt: new Date('2026-11-29T12:00:00.123Z'), consumedAt: null };
      await db.insert(grants).values(row);
      const [read] = await db.select().from(grants).where(eq(grants.jti, 'j1'));
      expect(read).toMatchObject(row);
    } finally {
      await pglite.close();
    }
  });

  it('refuses a drizzle whose dialect no longer has the hook, instead of running as if it did', () => {
    expect(() => lean({ dialect: {} })).toThrow(/drizzle-orm changed/);
  });
});
