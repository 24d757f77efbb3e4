import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPairSync } from 'node:crypto';
import { createAuditLog, createNoteSigner, readEntries, treeSize, type JsonObject, type NoteSigner } from '../../kernel/index.ts';
import type { Database } from '../../gateway/db.ts';
import { freshDatabase } from '../support/db.ts';

// A server that stops right after a call (a restart, a deploy) must not leave that call's entries for the next start:
// the operator's log of a request would then come from another process, late, or from none if none starts.
describe('closing the audit log', () => {
  let database: Database;
  let signer: NoteSigner;
  beforeAll(async () => {
    database = await freshDatabase();
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    signer = createNoteSigner('test.example/audit', privateKey, publicKey.export({ format: 'jwk' }) as JsonObject);
  }, 120_000);
  afterAll(() => database?.close());

  it('integrates what was appended before the close in one last batch, and stops without waiting for its next poll', async () => {
    const heard: string[] = [];
    // Neither the kick nor the poll would run a batch within this test: only the close can.
    const log = createAuditLog(database.db, signer, { kickMs: 600_000, idleMs: 600_000, onCheckpoint: (_, entries) => heard.push(...entries.map((e) => e.kind)) });
    await new Promise((resolve) => setTimeout(resolve, 50)); // the loop's first (empty) round is over: it sleeps
    await log.append([{ kind: 'request.received', requestId: 'req_1', actor: 'agent:a1', data: { n: 1 } }, { kind: 'request.pending', requestId: 'req_1', actor: 'kernel', data: {} }]);
    expect(await treeSize(database.db)).toBe(0);
    const started = Date.now();
    await log.close();
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(await treeSize(database.db)).toBe(2);
    expect(heard).toEqual(['request.received', 'request.pending']);
    const kinds: string[] = [];
    for await (const entry of readEntries(database.db)) kinds.push(entry.kind);
    expect(kinds).toEqual(['request.received', 'request.pending']);
    await expect(log.append([{ kind: 'request.received', requestId: 'req_2', actor: 'agent:a1', data: {} }])).rejects.toMatchObject({ message: expect.stringMatching(/closed/) });
  }, 60_000);
});
