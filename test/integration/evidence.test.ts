import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import { approvalChallenge, schema, sha256Hex, updatePasskeyCounter, verifyPasskeyEvidence } from '../../kernel/index.ts';
import type { Database } from '../../gateway/db.ts';
import { dbKind, freshDatabase } from '../support/db.ts';
import { createSoftAuthenticator } from '../support/authenticator.ts';

const rpId = 'localhost';
const origin = 'http://localhost:8787';
let database: Database;

beforeAll(async () => {
  database = await freshDatabase();
  await database.db.insert(schema.approvers).values({ id: 'ap1', email: 'jane@example.com', roles: [] });
});
afterAll(async () => {
  await database?.close();
});

async function seedPasskey(id: string, publicKey: string, counter: number): Promise<void> {
  await database.db.insert(schema.passkeys).values({ id, approverId: 'ap1', publicKey, counter });
}

async function storedCounter(id: string): Promise<number> {
  const [row] = await database.db.select({ counter: schema.passkeys.counter }).from(schema.passkeys).where(eq(schema.passkeys.id, id));
  return row.counter;
}

describe(`passkey counter compare-and-swap (${dbKind})`, () => {
  it('moves the counter only from the expected value', async () => {
    await seedPasskey('cred-a', 'pk', 5);
    expect(await updatePasskeyCounter(database.db, 'cred-a', 4, 9)).toBe(false);
    expect(await storedCounter('cred-a')).toBe(5);
    expect(await updatePasskeyCounter(database.db, 'cred-a', 5, 6)).toBe(true);
    expect(await storedCounter('cred-a')).toBe(6);
    expect(await updatePasskeyCounter(database.db, 'unknown', 0, 1)).toBe(false);
  });

  it('of two racing updates from the same counter, exactly one wins', async () => {
    for (let round = 0; round < 10; round++) {
      const id = `cred-race-${round}`;
      await seedPasskey(id, 'pk', 3);
      const results = await Promise.all([updatePasskeyCounter(database.db, id, 3, 4), updatePasskeyCounter(database.db, id, 3, 4)]);
      expect(results.filter(Boolean)).toHaveLength(1);
      expect(await storedCounter(id)).toBe(4);
    }
  });

  it('a removed passkey cannot be used', async () => {
    await seedPasskey('cred-removed', 'pk', 1);
    await database.db.update(schema.passkeys).set({ removedAt: new Date() }).where(eq(schema.passkeys.id, 'cred-removed'));
    expect(await updatePasskeyCounter(database.db, 'cred-removed', 1, 2)).toBe(false);
  });

  it('verify then store: a replay of the same assertion is refused once the counter is stored', async () => {
    const authenticator = createSoftAuthenticator({ rpId, origin });
    const seeded = authenticator.credentialForKernel();
    await seedPasskey(seeded.id, seeded.publicKey, seeded.counter);
    const digest = sha256Hex('integration request');
    const response = authenticator.assert({ challenge: approvalChallenge(digest, 'approve') });
    const decide = async () => {
      const credential = { id: seeded.id, publicKey: seeded.publicKey, counter: await storedCounter(seeded.id) };
      const { newCounter } = await verifyPasskeyEvidence({ response, digest, decision: 'approve', credential, expectedOrigin: origin, expectedRPID: rpId });
      return updatePasskeyCounter(database.db, seeded.id, credential.counter, newCounter);
    };
    expect(await decide()).toBe(true);
    await expect(decide()).rejects.toMatchObject({ code: 'evidence_refused', message: expect.stringMatching(/counter did not increase/) });
  });
});
