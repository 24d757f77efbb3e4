import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { CAPABILITIES, mintGrant, requestDigest, type JsonObject, type RequestBody } from '../../kernel/index.ts';
import { bindChild, childRouter } from '../../gateway/isolation/bridge.ts';
import { openChannel, type Channel } from '../../gateway/isolation/channel.ts';
import { serveConnector } from '../../tools/host.ts';
import { openGrantJournal } from '../../tools/journal.ts';
import { startKernel, type KernelFixture } from '../support/kernel-fixture.ts';
import { createTestConnector } from '../support/test-connector.ts';
import { socketPair } from '../support/socket-pair.ts';

// A compromised edge (or whatever else reaches a channel) speaks raw frames. Everything it may try is refused by the
// kernel's router or by the executor itself: a forged sender, an op without its capability, an execute with no grant,
// a grant for another digest, a replayed grant (also after the executor restarts).

// A process that dies inside a write: armed, the next writeSync anywhere in this file's modules throws instead.
const dying = vi.hoisted(() => ({ armed: false }));
vi.mock('node:fs', async (original) => {
  const fs = await original<typeof import('node:fs')>();
  const writeSync = ((...args: Parameters<typeof fs.writeSync>) => {
    if (dying.armed) {
      dying.armed = false;
      throw new Error('the process died here');
    }
    return fs.writeSync(...args);
  }) as typeof fs.writeSync;
  return { ...fs, default: { ...fs, writeSync }, writeSync };
});


describe('a compromised edge and replayed grants, across processes', () => {
  let k: KernelFixture;
  let dir: string;
  let edge: Channel;

  beforeAll(async () => {
    k = await startKernel();
    dir = mkdtempSync(join(tmpdir(), 'countersign-iso-'));
    k.port('gateway', CAPABILITIES.gateway);
    k.port('web', CAPABILITIES.web);
    const [edgeEnd, kernelEnd] = await socketPair(dir, 'edge');
    bindChild(k.router, kernelEnd, 'edge', ['gateway', 'web']);
    edge = openChannel(edgeEnd, async () => ({ ok: false, error: { code: 'bad_request', message: 'the edge answers nothing' } }));
  });

  afterAll(async () => {
    edge?.close();
    await k?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses a frame that claims a sender the channel is not bound to, and the router audits it', async () => {
    // test.admin is a real endpoint of this router, holding every kernel capability: only the channel's word is false.
    const reply = await edge.call('test.admin', 'kernel', { op: 'agent.add', name: 'evil', owner: 'evil@example.com' });
    expect(reply).toMatchObject({ ok: false, error: { code: 'capability_refused' } });
    expect(k.refusals).toContainEqual({ from: 'edge (claiming test.admin)', to: 'kernel', op: 'agent.add', reason: 'unknown sender' });
    const asExecutor = await edge.call('connector.test', 'kernel', { op: 'grant.consume', jti: 'x', digest: 'y' });
    expect(asExecutor).toMatchObject({ ok: false, error: { code: 'capability_refused' } });
    const agents = await k.admin.send('kernel', { op: 'agent.list' });
    expect(JSON.stringify(agents)).not.toContain('evil');
  });

  it('refuses ops the edge holds no capability for (an execute, a grant consume), through the audited router', async () => {
    const before = k.refusals.length;
    const execute = await edge.call('gateway', 'connector.test', { op: 'execute', body: {}, digest: 'd', grant: 'g', marker: 'm' });
    expect(execute).toMatchObject({ ok: false, error: { code: 'capability_refused' } });
    const consume = await edge.call('web', 'kernel', { op: 'grant.consume', jti: 'x', digest: 'y' });
    expect(consume).toMatchObject({ ok: false, error: { code: 'capability_refused' } });
    expect(k.refusals.slice(before)).toEqual([
      { from: 'gateway', to: 'connector.test', op: 'execute', reason: 'capability not held' },
      { from: 'web', to: 'kernel', op: 'grant.consume', reason: 'capability not held' },
    ]);
    expect(k.connector.executions).toEqual([]);
  });

  describe('an executor in its own process', () => {
    // The kernel end here is a stand-in that says yes to every grant.consume: a compromised kernel channel or a
    // database restored from a backup. The executor's own checks and journal are what must hold.
    const body: RequestBody = {
      tool: 'test_write_note',
      args: { key: 'k', text: 'once' },
      pins: { existed: false },
      principal: { agentId: 'agt_1', agentName: 'bot', owner: 'o@example.com' },
      policyVersion: 'v1',
      requestId: 'req_iso_1',
      nonce: 'n1',
      expiresAt: new Date(Date.now() + 600_000).toISOString(),
    };
    const digest = requestDigest(body);
    let connector: ReturnType<typeof createTestConnector>;

    async function executor(): Promise<{ kernel: Channel; close(): void }> {
      const [executorEnd, kernelEnd] = await socketPair(dir, `executor-${Math.random().toString(36).slice(2)}`);
      const journal = openGrantJournal(join(dir, 'journal', 'test.grants'));
      serveConnector(childRouter(executorEnd), connector, k.keys.publicKey, { journal });
      const kernel = openChannel(kernelEnd, async () => ({ ok: true, value: null }));
      return { kernel, close: () => (kernel.close(), journal.close()) };
    }
    const execute = (kernel: Channel, message: JsonObject) => kernel.call('kernel', 'connector.test', { op: 'execute', marker: 'm', ...message });

    it('acts only on a genuine grant for this digest, once, also after its restart', async () => {
      connector = createTestConnector();
      const first = await executor();
      const asBody = body as unknown as JsonObject;
      expect(await execute(first.kernel, { body: asBody, digest, grant: '' })).toMatchObject({ ok: false, error: { code: 'grant_invalid' } });
      const other = await mintGrant(k.keys, { requestId: body.requestId, digest: 'a'.repeat(64), tool: body.tool });
      expect(await execute(first.kernel, { body: asBody, digest, grant: other.jwt })).toMatchObject({ ok: false, error: { code: 'digest_mismatch' } });
      const changed = { ...body, args: { key: 'k', text: 'twice' } } as unknown as JsonObject;
      const grant = await mintGrant(k.keys, { requestId: body.requestId, digest, tool: body.tool });
      expect(await execute(first.kernel, { body: changed, digest, grant: grant.jwt })).toMatchObject({ ok: false, error: { code: 'digest_mismatch' } });
      expect(connector.executions).toEqual([]);

      const done = await execute(first.kernel, { body: asBody, digest, grant: grant.jwt });
      expect(done, JSON.stringify(done)).toMatchObject({ ok: true });
      expect(await execute(first.kernel, { body: asBody, digest, grant: grant.jwt })).toMatchObject({ ok: false, error: { code: 'grant_consumed' } });
      first.close();

      const restarted = await executor();
      expect(await execute(restarted.kernel, { body: asBody, digest, grant: grant.jwt })).toMatchObject({ ok: false, error: { code: 'grant_consumed' } });
      restarted.close();
      expect(connector.executions).toHaveLength(1);
    });

    it('keeps its journal whole when it dies while rewriting it at start', async () => {
      const path = join(dir, 'journal', 'dying.grants');
      const expires = new Date(Date.now() + 600_000);
      const first = openGrantJournal(path);
      await first.use('grant-used-once', expires, true);
      first.close();
      dying.armed = true; // the restart that rewrites the journal (dropping expired grants) dies mid-rewrite
      expect(() => openGrantJournal(path)).toThrow('the process died here');
      const next = openGrantJournal(path);
      await expect(next.use('grant-used-once', expires, true)).rejects.toMatchObject({ code: 'grant_consumed' });
      next.close();
    });
  });
});
