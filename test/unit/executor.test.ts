import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { eq } from 'drizzle-orm';
import { CAPABILITIES, mintGrant, readEntries, recordGrant, requestDigest, schema, type JsonObject, type Port, type RequestBody, type RequestView } from '../../kernel/index.ts';
import { startKernel, type KernelFixture } from '../support/kernel-fixture.ts';

// The executor boundary (tools/host.ts) on the real router, with the real kernel on PGlite answering grant.consume.
// Requests are submitted for real and held for approval; a grant is then minted with the kernel's own key and
// recorded as the kernel does when it moves a request to `executing`; a stand-in holding only the kernel's
// `connector.*:execute` capability hands it to the host. Each refusal below is one check of the host, reached on its own.

// Each test runs several kernel transactions on PGlite; on a loaded machine (or under Stryker) that takes more than
// the unit project's default 5 s.
vi.setConfig({ testTimeout: 60_000 });

let k: KernelFixture;
let agentId: string;
let kernelStandIn: Port;
let n = 0;

beforeAll(async () => {
  k = await startKernel();
  agentId = await k.addAgent('bot', 'jane@example.com');
  kernelStandIn = k.port('test.kernel-stand-in', CAPABILITIES.kernel);
}, 180_000); // PGlite starts slowly on a busy machine, and slower still under Stryker's instrumentation
afterAll(async () => {
  await k?.close();
});

/** A pending request for a fresh note, and a grant for it as the kernel would mint and record it. */
async function approvedWrite(key = `note-${++n}`) {
  const request = await k.submit(agentId, 'test_write_note', { key, text: 'approved text' });
  expect(request.state).toBe('pending');
  const grant = await mintGrant(k.keys, { requestId: request.id, digest: request.digest, tool: request.body.tool });
  await recordGrant(k.database.db, { jti: grant.jti, requestId: request.id, digest: request.digest, expiresAt: grant.expiresAt });
  return { request, grant: grant.jwt, jti: grant.jti };
}

const execute = (body: RequestBody, digest: string, grant: string) =>
  kernelStandIn.send<JsonObject>('connector.test', { op: 'execute', body: body as unknown as JsonObject, digest, grant });

const ran = (request: RequestView) => k.connector.executions.filter((e) => e.requestId === request.id).length;

async function consumed(jti: string): Promise<boolean> {
  const [row] = await k.database.db.select().from(schema.grants).where(eq(schema.grants.jti, jti));
  return row!.consumedAt !== null;
}

describe('executor boundary (serveConnector)', () => {
  it('executes a request with its own genuine, unused grant (the control for every refusal below)', async () => {
    const { request, grant, jti } = await approvedWrite();
    await expect(execute(request.body, request.digest, grant)).resolves.toMatchObject({ data: { written: true } });
    expect(ran(request)).toBe(1);
    expect(await consumed(jti)).toBe(true);
    // Consumed and audited together, as the executor that consumed it.
    await k.audit.sync();
    const entries: JsonObject[] = [];
    for await (const e of readEntries(k.database.db, { kind: 'grant.consumed' })) entries.push(e as unknown as JsonObject);
    expect(entries).toEqual([expect.objectContaining({ actor: 'connector.test', data: { jti, digest: request.digest } })]);
  });

  it('refuses a replayed grant: grant_consumed, and the upstream call happens once', async () => {
    const { request, grant } = await approvedWrite();
    await execute(request.body, request.digest, grant);
    await expect(execute(request.body, request.digest, grant)).rejects.toMatchObject({ code: 'grant_consumed' });
    expect(ran(request)).toBe(1);
  });

  it("refuses another request's grant (digest_mismatch from the grant) and leaves both grants unused", async () => {
    const a = await approvedWrite();
    const b = await approvedWrite();
    await expect(execute(a.request.body, a.request.digest, b.grant)).rejects.toMatchObject({
      code: 'digest_mismatch',
      message: expect.stringContaining('the grant was issued for another request'),
    });
    expect(ran(a.request) + ran(b.request)).toBe(0);
    expect([await consumed(a.jti), await consumed(b.jti)]).toEqual([false, false]);
  });

  it('refuses a body edited after approval with digest_mismatch before the grant is touched', async () => {
    const { request, grant, jti } = await approvedWrite();
    const edited: RequestBody = { ...request.body, args: { ...request.body.args, text: 'edited after approval' } };
    const refusal = { code: 'digest_mismatch', message: expect.stringContaining('does not match the digest it was approved under') };
    await expect(execute(edited, request.digest, grant)).rejects.toMatchObject(refusal);
    expect(await consumed(jti)).toBe(false); // the grant is still good: the check came first
    // Even with the grant already spent, the edit is what is reported (not masked by grant_consumed).
    await execute(request.body, request.digest, grant);
    await expect(execute(edited, request.digest, grant)).rejects.toMatchObject(refusal);
    // An edited body presented with its own recomputed digest is refused by the grant, which names the approved one.
    await expect(execute(edited, requestDigest(edited), grant)).rejects.toMatchObject({ code: 'digest_mismatch', message: expect.stringContaining('grant') });
    expect(k.connector.executions.filter((e) => e.args.text === 'edited after approval')).toEqual([]);
  });

  it('refuses when the pinned upstream state drifted since approval: pin_drift, nothing executed', async () => {
    const key = `drift-${++n}`;
    const { request, grant } = await approvedWrite(key);
    expect(request.body.pins).toEqual({ existed: false });
    k.connector.notes.set(key, 'written by someone else meanwhile');
    await expect(execute(request.body, request.digest, grant)).rejects.toMatchObject({
      code: 'pin_drift',
      message: expect.stringContaining('existed was false, now true'),
    });
    expect(ran(request)).toBe(0);
    expect(k.connector.notes.get(key)).toBe('written by someone else meanwhile');
  });

  it('refuses a grant for another tool, an expired grant and a forged one, each with its own code', async () => {
    const { request } = await approvedWrite();
    const otherTool = await mintGrant(k.keys, { requestId: request.id, digest: request.digest, tool: 'test_delete_all' });
    await expect(execute(request.body, request.digest, otherTool.jwt)).rejects.toMatchObject({ code: 'grant_invalid', message: expect.stringContaining('test_delete_all') });
    const past = new Date(Date.now() - 120_000);
    const expired = await mintGrant(k.keys, { requestId: request.id, digest: request.digest, tool: request.body.tool, now: past });
    await expect(execute(request.body, request.digest, expired.jwt)).rejects.toMatchObject({ code: 'grant_expired' });
    const { generateKernelKeys } = await import('../../gateway/keys.ts');
    const forged = await mintGrant(await generateKernelKeys(), { requestId: request.id, digest: request.digest, tool: request.body.tool });
    await expect(execute(request.body, request.digest, forged.jwt)).rejects.toMatchObject({ code: 'grant_invalid', message: expect.stringContaining('signature') });
    expect(ran(request)).toBe(0);
  });

  it('refuses a forged sender: the router stamps the sender, so only a port holding the capability reaches the executor', async () => {
    const { request, grant, jti } = await approvedWrite();
    const message = { op: 'execute', body: request.body as unknown as JsonObject, digest: request.digest, grant, from: 'kernel' };
    const gateway = k.port('gateway', CAPABILITIES.gateway);
    await expect(gateway.send('connector.test', message)).rejects.toMatchObject({ code: 'capability_refused' });
    // A transport that cannot authenticate its peer delivers as an unknown sender: refused the same way.
    await expect(k.router.deliver('kernel-impostor', 'connector.test', message)).resolves.toMatchObject({ ok: false, error: { code: 'capability_refused' } });
    expect(k.refusals.slice(-2).map((r) => r.reason)).toEqual(['capability not held', 'unknown sender']);
    expect(ran(request)).toBe(0);
    expect(await consumed(jti)).toBe(false);
  });

  it('refuses the executor a kernel op it does not hold: it may consume grants and nothing else', async () => {
    const { request } = await approvedWrite();
    await expect(k.host.send('kernel', { op: 'request.get', requestId: request.id })).rejects.toMatchObject({ code: 'capability_refused' });
    await expect(k.host.send('kernel', { op: 'approval.inbox', approverId: 'x' })).rejects.toMatchObject({ code: 'capability_refused' });
    expect(k.refusals.at(-1)).toMatchObject({ from: 'connector.test', to: 'kernel', op: 'approval.inbox', reason: 'capability not held' });
    // grant.consume is held: an unknown grant reaches the kernel and is refused there, for what it is.
    await expect(k.host.send('kernel', { op: 'grant.consume', jti: 'never-minted', digest: request.digest })).rejects.toMatchObject({
      code: 'grant_invalid',
      message: expect.stringContaining('no grant never-minted was issued by this kernel'),
    });
  });

  it('consumes a grant only with its own digest, and never one voided or expired in the database', async () => {
    const a = await approvedWrite();
    const b = await approvedWrite();
    const consume = (jti: string, digest: string) => k.host.send('kernel', { op: 'grant.consume', jti, digest });
    await expect(consume(a.jti, b.request.digest)).rejects.toMatchObject({ code: 'digest_mismatch', message: expect.stringContaining(a.jti) });
    expect(await consumed(a.jti)).toBe(false);
    // Voided, as recovery voids the unused grants of a request whose lease lapsed: its JWT is still within exp.
    await k.database.db.update(schema.grants).set({ expiresAt: new Date(0) }).where(eq(schema.grants.jti, a.jti));
    await expect(consume(a.jti, a.request.digest)).rejects.toMatchObject({ code: 'grant_expired', message: expect.stringContaining(`grant ${a.jti} expired before it was used`) });
    await expect(execute(a.request.body, a.request.digest, a.grant)).rejects.toMatchObject({ code: 'grant_expired' });
    expect(ran(a.request)).toBe(0);
    // The control: b's grant, with b's digest, is consumed once.
    await expect(consume(b.jti, b.request.digest)).resolves.toBe(true);
    await expect(consume(b.jti, b.request.digest)).rejects.toMatchObject({ code: 'grant_consumed', message: expect.stringContaining('already used') });
  });
});
