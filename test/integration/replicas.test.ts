import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { verifyStored, type JsonObject, type Port, type RequestView } from '../../kernel/index.ts';
import { createServices, type Services } from '../../gateway/app.ts';
import { openDatabase, type Database } from '../../gateway/db.ts';
import { defineTool, type Connector } from '../../tools/spec.ts';
import { freshDatabase } from '../support/db.ts';
import { createSoftAuthenticator } from '../support/authenticator.ts';
import { startExecutors } from '../support/executors.ts';
import { serverTimeout, testIsolation } from '../support/isolation-mode.ts';

/**
 * Two gateway replicas on one PostgreSQL: a request submitted on A and approved on B executes once, A's waiter is
 * woken through LISTEN/NOTIFY, and both append to one audit chain. PostgreSQL only: PGlite is single-process.
 */

const pg = Boolean(process.env.TEST_DATABASE_URL);
const executed: string[] = [];
const connector: Connector = {
  name: 'replica',
  sandbox: true,
  tools: [
    defineTool({
      name: 'replica_write',
      title: 'Write',
      description: 'A write that needs the owner',
      input: z.object({ n: z.number() }),
      impact: 'write',
      consequence: 'writes',
      describe: async (args) => ({ summary: `Write ${args.n}`, consequence: 'writes', reversible: true, fields: [], pins: {} }),
      execute: async (args, ctx) => (executed.push(ctx.requestId), { data: { n: args.n }, text: 'ok' }),
    }),
  ],
};

let shared: Database;
let second: Database;
let a: Services;
let b: Services;
const homes: string[] = [];

/**
 * A replica: its own home (the kernel key copied from the first, as replicas share one) and, with
 * COUNTERSIGN_TEST_ISOLATION=process, its own executor process for the connector (test/support/executors.ts).
 */
async function replica(database: Database, keysFrom?: string): Promise<Services> {
  const home = mkdtempSync(join(tmpdir(), 'countersign-replicas-'));
  homes.push(home);
  const configPath = join(home, 'countersign.yaml');
  writeFileSync(configPath, 'policy:\n  default: approve\n');
  if (keysFrom) cpSync(join(keysFrom, 'keys'), join(home, 'keys'), { recursive: true });
  const executors = testIsolation() === 'process' ? await startExecutors({ home, configPath, connectors: [connector] }) : null;
  const services = await createServices({ home, configPath, publicUrl: 'http://localhost:9', port: 9, host: '127.0.0.1', connectors: [connector], database }, executors?.remote);
  await executors?.check(services);
  return services;
}

beforeAll(async () => {
  if (!pg) return;
  shared = await freshDatabase();
  second = await openDatabase({ url: `postgres://${shared.location.replace(/^postgres(ql)?:\/\//, '')}` });
  a = await replica(shared);
  b = await replica(second, homes[0]);
}, serverTimeout(60_000));
afterAll(async () => {
  if (!pg) return;
  await a?.close();
  await b?.close();
  await second?.close();
  await shared?.close();
  for (const home of homes) rmSync(home, { recursive: true, force: true });
});

describe.skipIf(!pg)('replicas on one PostgreSQL', () => {
  it('wakes the replica holding the call when another replica records the approval', async () => {
    const portA: Port = a.router.register('test.a', async () => null, ['kernel:*']);
    const portB: Port = b.router.register('test.b', async () => null, ['kernel:*']);
    const added = await portA.send<JsonObject>('kernel', { op: 'agent.add', name: 'replica-agent', owner: 'owner@example.com' });
    const agentId = (added.agent as JsonObject).id as string;
    const approver = await portB.send<JsonObject>('kernel', { op: 'approver.upsert', email: 'owner@example.com', roles: [] });
    const authenticator = createSoftAuthenticator({ rpId: 'localhost', origin: 'http://localhost:9' });
    await portB.send('kernel', { op: 'passkey.add', approverId: approver.id as string, credential: { ...authenticator.credentialForKernel(), transports: [], name: 'soft' } });

    const wakes: string[] = [];
    const unlisten = await shared.listen('countersign_wake', (ids) => wakes.push(...ids.split(',')));
    const view = await portA.send<RequestView & JsonObject>('kernel', { op: 'request.submit', agentId, tool: 'replica_write', args: { n: 1 } });
    expect(view.state).toBe('pending');
    const held = portA.send<RequestView & JsonObject>('kernel', { op: 'request.await', requestId: view.id, agentId, waitMs: 10_000 });

    const challenge = await portB.send<JsonObject>('kernel', { op: 'approval.challenge', requestId: view.id, decision: 'approve', approverId: approver.id as string });
    const response = authenticator.assert({ challenge: challenge.challenge as string, rpId: 'localhost' });
    await portB.send('kernel', { op: 'approval.decide', requestId: view.id, decision: 'approve', reason: null, evidence: { kind: 'webauthn', response: response as unknown as JsonObject } });

    expect((await held).state).toBe('succeeded');
    expect(executed.filter((id) => id === view.id)).toHaveLength(1);
    expect(wakes).toContain(view.id);
    await unlisten();

    await a.audit.sync();
    await b.audit.sync();
    const verified = await verifyStored(shared.db, [a.auditSigner.verifierKey]);
    expect(verified).toMatchObject({ ok: true });
  });
});
