import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eq, sql } from 'drizzle-orm';
import { auditQueueInsert, consumeGrant, mintGrant, prepareInput, recordGrant, schema, sha256Hex, type KernelKeys, type RequestBody } from '../../kernel/index.ts';
import { generateKernelKeys } from '../../gateway/keys.ts';
import type { Database } from '../../gateway/db.ts';
import { dbKind, freshDatabase } from '../support/db.ts';

let database: Database;
let keys: KernelKeys;
let seq = 0;

beforeAll(async () => {
  database = await freshDatabase();
  keys = await generateKernelKeys();
});
afterAll(async () => {
  await database?.close();
});

/** A stored request and a recorded grant for it, as the kernel would leave them just before execution. */
async function grantForNewRequest(ttlSeconds = 60) {
  const requestId = `req-${++seq}`;
  const digest = sha256Hex(requestId);
  const body: RequestBody = {
    tool: 'stripe_create_refund', args: {}, pins: {}, principal: { agentId: 'a1', agentName: 'bot', owner: 'jane@example.com' },
    policyVersion: 'v1', requestId, nonce: 'n', expiresAt: new Date(Date.now() + 60_000).toISOString(),
  };
  await database.db.insert(schema.requests).values({
    id: requestId, digest, agentId: 'a1', tool: body.tool, body, state: 'executing', expiresAt: new Date(Date.now() + 60_000),
    intent: { summary: 'Refund', consequence: 'moves-money', reversible: false, fields: [], pins: {}, sandbox: true },
    verdict: { decision: 'allow', ruleId: null, reason: 'test' },
  });
  const grant = await mintGrant(keys, { requestId, digest, tool: body.tool, ttlSeconds });
  await database.db.transaction(async (tx) => recordGrant(tx, { jti: grant.jti, requestId, digest, expiresAt: grant.expiresAt }));
  return { ...grant, requestId, digest };
}

describe(`consumeGrant (${dbKind})`, () => {
  it('consumes once; a second use is grant_consumed', async () => {
    const grant = await grantForNewRequest();
    await expect(consumeGrant(database.db, grant)).resolves.toBeUndefined();
    await expect(consumeGrant(database.db, grant)).rejects.toMatchObject({ code: 'grant_consumed', message: expect.stringMatching(/already used/) });
  });

  it("queues the consumption's audit entry in the same statement, only for the call that took the grant", async () => {
    const grant = await grantForNewRequest();
    const audited = () => auditQueueInsert([prepareInput({ kind: 'grant.consumed', requestId: null, actor: 'connector.test', data: { jti: grant.jti } })]);
    const queued = async () => (await database.db.select().from(schema.auditQueue).where(sql`${schema.auditQueue.data}::jsonb ->> 'jti' = ${grant.jti}`)).length;
    await expect(consumeGrant(database.db, { jti: grant.jti, digest: sha256Hex('other') }, audited())).rejects.toMatchObject({ code: 'digest_mismatch' });
    expect(await queued()).toBe(0);
    await consumeGrant(database.db, grant, audited());
    expect(await queued()).toBe(1);
    await expect(consumeGrant(database.db, grant, audited())).rejects.toMatchObject({ code: 'grant_consumed' });
    expect(await queued()).toBe(1);
  });

  it('of two racing consumers, exactly one wins', async () => {
    for (let round = 0; round < 10; round++) {
      const grant = await grantForNewRequest();
      const outcomes = await Promise.allSettled([consumeGrant(database.db, grant), consumeGrant(database.db, grant), consumeGrant(database.db, grant)]);
      expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
      for (const o of outcomes) if (o.status === 'rejected') expect(o.reason).toMatchObject({ code: 'grant_consumed' });
      const [row] = await database.db.select().from(schema.grants).where(eq(schema.grants.jti, grant.jti));
      expect(row.consumedAt).toBeInstanceOf(Date);
    }
  });

  it('refuses an expired grant, on the database clock', async () => {
    const grant = await grantForNewRequest();
    await database.db.update(schema.grants).set({ expiresAt: sql`now() - interval '1 second'` }).where(eq(schema.grants.jti, grant.jti));
    await expect(consumeGrant(database.db, grant)).rejects.toMatchObject({ code: 'grant_expired' });
    const [row] = await database.db.select().from(schema.grants).where(eq(schema.grants.jti, grant.jti));
    expect(row.consumedAt).toBeNull();
  });

  it('refuses a grant presented for another digest, and leaves it unconsumed', async () => {
    const grant = await grantForNewRequest();
    await expect(consumeGrant(database.db, { jti: grant.jti, digest: sha256Hex('other') })).rejects.toMatchObject({ code: 'digest_mismatch' });
    await expect(consumeGrant(database.db, grant)).resolves.toBeUndefined();
  });

  it('refuses an unknown grant', async () => {
    await expect(consumeGrant(database.db, { jti: 'never-issued', digest: sha256Hex('x') })).rejects.toMatchObject({ code: 'grant_invalid', message: expect.stringMatching(/no grant never-issued/) });
  });
});
