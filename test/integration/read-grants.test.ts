import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import { decodeJwt } from 'jose';
import { KernelError, readEntries, requestDigest, schema, verifyGrant, type Envelope, type Json, type JsonObject, type Port, type RequestBody } from '../../kernel/index.ts';
import { dbKind } from '../support/db.ts';
import { startStack, type Stack } from '../support/harness.ts';
import { createTestConnector } from '../support/test-connector.ts';

/**
 * Auto-allowed reads run before anything is written and are recorded in one statement after (issue 13). Their grant
 * still has to be genuine, bound to the request, and consumed exactly once: an executor endpoint here plays a
 * connector that tries to reuse it, during the call and after.
 */

let stack: Stack;
let spy: Port;
let agentId: string;
const tries: { phase: string; outcome: string }[] = [];
let captured: { jti: string; digest: string; body: RequestBody } | null = null;
/** `reuse`: try the grant three ways during the call; `fail`: fail upstream without consuming it. */
let mode: 'reuse' | 'fail' = 'reuse';

const attempt = async (phase: string, message: { op: string } & JsonObject) => {
  try {
    await spy.send('kernel', message);
    tries.push({ phase, outcome: 'consumed' });
  } catch (error) {
    tries.push({ phase, outcome: error instanceof KernelError ? error.code : String(error) });
  }
};

beforeAll(async () => {
  stack = await startStack({
    // The spy registers after start, so no rule may name it (the server refuses a policy naming a tool nobody offers):
    // its reads fall to `default`.
    config: 'policy:\n  default: allow\n  rules:\n    - { id: reads, tools: [test_read_note], decision: allow }\n',
    connectors: [createTestConnector()],
  });
  const tool = { name: 'spy_read', title: 'Spy read', description: 'reads', inputSchema: { type: 'object' }, impact: 'read', consequence: 'reads', connector: 'spy', sandbox: true };
  spy = stack.services.router.register('connector.spy', async (envelope: Envelope): Promise<Json> => {
    const m = envelope.body as JsonObject;
    if (m.op === 'tools.list') return [tool];
    if (m.op === 'describe') return { args: {}, intent: { summary: 'Spy read', consequence: 'reads', reversible: true, fields: [], pins: {}, sandbox: true } };
    // execute: check the grant as the real host does, then try to use it more than once and for another digest.
    const body = m.body as unknown as RequestBody;
    const digest = m.digest as string;
    expect(requestDigest(body)).toBe(digest);
    await verifyGrant(stack.services.keys.publicKey, m.grant as string, { digest, tool: body.tool });
    const { jti } = decodeJwt(m.grant as string) as { jti: string };
    captured = { jti, digest, body };
    if (mode === 'fail') throw new KernelError('upstream_error', 'the spy upstream is down');
    await attempt('other digest first', { op: 'grant.consume', jti, digest: 'f'.repeat(64) });
    await attempt('first use', { op: 'grant.consume', jti, digest });
    await attempt('second use, during the call', { op: 'grant.consume', jti, digest });
    return { data: { ok: true }, text: 'read' };
  }, ['kernel:grant.consume']);
  await stack.services.kernel.refreshTools();
  agentId = (await stack.addAgent('reader', 'owner@example.com')).agentId;
});

afterAll(async () => {
  await stack?.close();
});

describe(`auto-allowed reads (${dbKind})`, () => {
  it('consume their grant once, in memory; a reuse during or after the call, or for another digest, is refused', async () => {
    const view = await stack.submit(agentId, 'spy_read', {});
    expect(view.state).toBe('succeeded');
    expect(tries).toEqual([
      { phase: 'other digest first', outcome: 'digest_mismatch' },
      { phase: 'first use', outcome: 'consumed' },
      { phase: 'second use, during the call', outcome: 'grant_consumed' },
    ]);
    // After the call the grant lives only in the database, consumed.
    await attempt('after the call', { op: 'grant.consume', jti: captured!.jti, digest: captured!.digest });
    expect(tries.at(-1)).toEqual({ phase: 'after the call', outcome: 'grant_consumed' });
    const [grant] = await stack.services.database.db.select().from(schema.grants).where(eq(schema.grants.jti, captured!.jti));
    expect(grant).toMatchObject({ requestId: view.id, digest: captured!.digest });
    expect(grant!.consumedAt).toBeInstanceOf(Date);
  });

  it('are recorded after, in one statement: every step in order, with the digest the executor saw', async () => {
    const view = await stack.submit(agentId, 'test_read_note', { key: 'welcome' });
    expect(view).toMatchObject({ state: 'succeeded', result: { data: { found: true } } });
    const entries = [];
    await stack.services.audit.sync();
    for await (const entry of readEntries(stack.services.database.db, { requestId: view.id })) entries.push(entry);
    expect(entries.map((e) => e.kind)).toEqual(['request.received', 'policy.decided', 'grant.minted', 'execution.started', 'execution.succeeded']);
    const [row] = await stack.services.database.db.select().from(schema.requests).where(eq(schema.requests.id, view.id));
    expect(row).toMatchObject({ state: 'succeeded', digest: view.digest });
    expect(requestDigest(row!.body)).toBe(row!.digest);
    // The consumption is audited in the same transaction (its entry names the grant, not the request).
    const minted = entries.find((e) => e.kind === 'grant.minted')!;
    const consumed = [];
    for await (const entry of readEntries(stack.services.database.db, { kind: 'grant.consumed', since: minted.seq })) consumed.push(entry);
    expect(consumed[0]).toMatchObject({ actor: 'connector.test', data: { jti: (minted.data as JsonObject).jti, digest: view.digest } });
    expect(consumed[0]!.seq).toBeLessThan(entries.at(-1)!.seq);
  });

  it('that fail upstream are recorded as failed with the error, and their unused grant cannot be consumed later', async () => {
    mode = 'fail';
    const view = await stack.submit(agentId, 'spy_read', {});
    expect(view).toMatchObject({ state: 'failed', error: { code: 'upstream_error', message: 'the spy upstream is down' } });
    await attempt('unused grant, after a failed read', { op: 'grant.consume', jti: captured!.jti, digest: captured!.digest });
    expect(tries.at(-1)).toEqual({ phase: 'unused grant, after a failed read', outcome: 'grant_expired' });
  });
});
