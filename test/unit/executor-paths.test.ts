import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { CAPABILITIES, KernelError, mintGrant, recordGrant, type JsonObject, type Port, type RequestBody, type RequestView } from '../../kernel/index.ts';
import { checkPins, serveConnector, validate } from '../../tools/host.ts';
import type { GrantJournal } from '../../tools/journal.ts';
import { defineTool, type Connector } from '../../tools/spec.ts';
import { startKernel, type KernelFixture } from '../support/kernel-fixture.ts';

// The executor boundary's other paths (tools/host.ts; executor.test.ts has the grant and digest refusals): unknown
// tools and bad arguments, upstream that moved between approval and execution, a call cancelled before it ran,
// the idempotency key, and reconcile's three answers. A connector of this file's own, served by serveConnector on the
// real router next to the real kernel (PGlite); the kernel's and the gateway's messages come from ports holding
// exactly their capabilities.

vi.setConfig({ testTimeout: 60_000 });

const upstream = {
  pins: { branch: 'main', head: 'abc' } as JsonObject,
  gone: false,
  found: null as JsonObject | null,
  reconcileError: null as KernelError | null,
  executed: [] as { tool: string; key: string; idempotencyKey: string; aborted: boolean }[],
};

const key = z.object({ key: z.string().min(1), nested: z.object({ n: z.number() }).optional() });
const write = (name: string, extra: Partial<Parameters<typeof defineTool>[0]> = {}) =>
  defineTool({
    name,
    title: 'Merge The Branch',
    description: 'Test tool.',
    input: key,
    impact: 'write',
    consequence: 'writes',
    async describe() {
      if (upstream.gone) throw new KernelError('invalid_arguments', 'branch feature/x no longer exists');
      return { summary: 'Merge', consequence: 'writes', reversible: false, fields: [], pins: upstream.pins };
    },
    async execute(args, ctx) {
      upstream.executed.push({ tool: name, key: String((args as { key: string }).key), idempotencyKey: ctx.idempotencyKey, aborted: ctx.signal?.aborted ?? false });
      return { data: { done: true }, text: 'done' };
    },
    ...extra,
  });

const connector: Connector = {
  name: 'paths',
  sandbox: true,
  tools: [
    write('paths_merge', {
      async reconcile() {
        if (upstream.reconcileError) throw upstream.reconcileError;
        return upstream.found ? { data: upstream.found, text: 'found upstream' } : null;
      },
      check: (args: { key: string }) => `the merge log of ${args.key}`,
    }),
    write('paths_set', { rerunSafe: 'setting the same value twice leaves one value' }),
    write('paths_blind'),
    write('paths_opaque', {
      async reconcile() {
        throw new KernelError('upstream_unknown', 'saw a change nobody asked for');
      },
    }),
  ],
};

let k: KernelFixture;
let agentId: string;
let kernelSide: Port;
let gatewaySide: Port;
let n = 0;

beforeAll(async () => {
  k = await startKernel({ connectors: [connector] });
  agentId = await k.addAgent('bot', 'jane@example.com');
  kernelSide = k.port('test.kernel-side', CAPABILITIES.kernel);
  gatewaySide = k.port('test.gateway-side', CAPABILITIES.gateway);
}, 180_000);
afterAll(async () => k?.close());

async function approved(tool = 'paths_merge', args: JsonObject = { key: `k-${++n}` }): Promise<{ request: RequestView; grant: string }> {
  upstream.pins = { branch: 'main', head: 'abc' };
  upstream.gone = false;
  const request = await k.submit(agentId, tool, args);
  expect(request.state).toBe('pending');
  const grant = await mintGrant(k.keys, { requestId: request.id, digest: request.digest, tool });
  await recordGrant(k.database.db, { jti: grant.jti, requestId: request.id, digest: request.digest, expiresAt: grant.expiresAt });
  return { request, grant: grant.jwt };
}
const execute = (request: RequestView, grant: string, call?: string) =>
  kernelSide.send<JsonObject>('connector.paths', { op: 'execute', body: request.body as unknown as JsonObject, digest: request.digest, grant, marker: 'm', ...(call ? { call } : {}) });
const reconcile = (body: RequestBody) => kernelSide.send<JsonObject>('connector.paths', { op: 'reconcile', body: body as unknown as JsonObject, marker: 'm' });

describe('executor boundary: tools and arguments', () => {
  it('refuses a tool the connector does not have, and an op it does not know', async () => {
    await expect(kernelSide.send('connector.paths', { op: 'describe', tool: 'paths_nope', args: {} })).rejects.toMatchObject({ code: 'unknown_tool', message: 'connector paths has no tool "paths_nope"' });
    // The router lets through only ops a sender holds; a port granted this one reaches the host's own refusal.
    await expect(k.port('test.odd', ['connector.paths:frobnicate']).send('connector.paths', { op: 'frobnicate' })).rejects.toMatchObject({ code: 'bad_request', message: 'unknown connector op "frobnicate"' });
  });

  it('names each bad argument by its path, with what was expected', () => {
    const tool = connector.tools[0]!;
    let error: KernelError | undefined;
    try {
      validate(tool, { key: '', nested: { n: 'x' } });
    } catch (e) {
      error = e as KernelError;
    }
    expect(error).toMatchObject({ code: 'invalid_arguments' });
    expect(error!.message).toMatch(/^invalid arguments for paths_merge: args\.key: .+; args\.nested\.n: .+$/);
    expect(error!.details).toEqual({ problems: [expect.stringMatching(/^args\.key: /), expect.stringMatching(/^args\.nested\.n: /)] });
    expect(() => validate(tool, undefined)).toThrow(/^invalid arguments for paths_merge: args\.key: /);
    expect(validate(tool, { key: 'a' })).toEqual({ key: 'a' });
  });

  it('passes the tool an idempotency key made from the request id', async () => {
    const { request, grant } = await approved();
    await execute(request, grant);
    expect(upstream.executed.at(-1)).toMatchObject({ key: request.body.args.key, idempotencyKey: `countersign-${request.id}`, aborted: false });
  });
});

describe('executor boundary: upstream that moved since approval', () => {
  it('says which pins changed, from what to what, including pins that appeared or went away', () => {
    expect(() => checkPins({ a: 1, b: [1, 2] }, { b: [1, 2], a: 1 })).not.toThrow();
    let error: KernelError | undefined;
    try {
      checkPins({ head: 'abc', branch: 'main', gone: true }, { head: 'def', branch: 'main', added: 'x' });
    } catch (e) {
      error = e as KernelError;
    }
    expect(error).toMatchObject({
      code: 'pin_drift',
      message: 'upstream state changed since approval (head was "abc", now "def"; gone was true, now null; added was null, now "x"); nothing was executed. Ask again so a human can approve the current state.',
    });
  });

  it('refuses to run when upstream moved, naming the pin, and when the arguments no longer describe (the branch went away)', async () => {
    const moved = await approved();
    upstream.pins = { branch: 'main', head: 'def' };
    await expect(execute(moved.request, moved.grant)).rejects.toMatchObject({ code: 'pin_drift', message: expect.stringContaining('head was "abc", now "def"') });
    const vanished = await approved();
    upstream.gone = true;
    await expect(execute(vanished.request, vanished.grant)).rejects.toMatchObject({
      code: 'pin_drift',
      message: 'upstream state changed since approval: branch feature/x no longer exists; nothing was executed',
    });
    expect(upstream.executed.filter((e) => e.key === moved.request.body.args.key || e.key === vanished.request.body.args.key)).toEqual([]);
  });

  it('lets other describe failures through as they are, not as drift', async () => {
    const { request, grant } = await approved();
    const spec = connector.tools[0]!;
    const original = spec.describe;
    spec.describe = async () => {
      throw new KernelError('upstream_error', 'GitHub answered 502');
    };
    try {
      await expect(execute(request, grant)).rejects.toMatchObject({ code: 'upstream_error', message: 'GitHub answered 502' });
    } finally {
      spec.describe = original;
    }
  });
});

describe('executor boundary: cancellation', () => {
  it('refuses a call its agent cancelled before it reached the executor, saying why, and runs nothing', async () => {
    const { request, grant } = await approved();
    const call = `call-${n}`;
    expect(await gatewaySide.send('connector.paths', { op: 'execution.cancel', agentId, requestId: null, call, reason: 'the agent stopped waiting' })).toBe(false);
    await expect(execute(request, grant, call)).rejects.toMatchObject({ code: 'cancelled', message: 'the agent stopped waiting before it ran; nothing was executed' });
    expect(upstream.executed.filter((e) => e.key === request.body.args.key)).toEqual([]);
  });

  it('forgets an execution once it ended: a later cancel finds nothing running', async () => {
    const { request, grant } = await approved();
    await execute(request, grant, `call-${n}`);
    expect(await gatewaySide.send('connector.paths', { op: 'execution.cancel', agentId, requestId: request.id, call: null, reason: 'too late' })).toBe(false);
  });
});

describe('executor boundary: reconcile', () => {
  it('answers happened with what reconcile found upstream', async () => {
    const { request } = await approved();
    upstream.found = { merged: true, sha: 'abc' };
    try {
      expect(await reconcile(request.body)).toEqual({ answer: 'happened', result: { data: { merged: true, sha: 'abc' }, text: 'found upstream' } });
    } finally {
      upstream.found = null;
    }
  });

  it('answers cannot_tell, with what to check, when nothing was found and running again is not proven harmless', async () => {
    const { request } = await approved();
    expect(await reconcile(request.body)).toEqual({
      answer: 'cannot_tell',
      why: 'merge the branch left no trace upstream that proves it ran, and running it again could do it twice',
      check: `the merge log of ${String(request.body.args.key)}`,
    });
    const blind = await approved('paths_blind');
    expect(await reconcile(blind.request.body)).toEqual({ answer: 'cannot_tell', why: 'paths_blind cannot look upstream for what it did', check: 'the upstream system for paths_blind' });
  });

  it('answers not_happened with the proof when running again is harmless', async () => {
    const { request } = await approved('paths_set');
    expect(await reconcile(request.body)).toEqual({ answer: 'not_happened', proof: 'setting the same value twice leaves one value' });
  });

  it('turns upstream_unknown from reconcile into cannot_tell with its reason, and lets any other error through', async () => {
    const { request } = await approved();
    upstream.reconcileError = new KernelError('upstream_unknown', 'the merge log shows a merge by someone else');
    try {
      expect(await reconcile(request.body)).toEqual({ answer: 'cannot_tell', why: 'the merge log shows a merge by someone else', check: `the merge log of ${String(request.body.args.key)}` });
      upstream.reconcileError = new KernelError('upstream_error', 'GitHub answered 500');
      await expect(reconcile(request.body)).rejects.toMatchObject({ code: 'upstream_error', message: 'GitHub answered 500' });
      // A tool that says nothing of where to look: the human is sent to the upstream system by the tool's name.
      const opaque = await approved('paths_opaque');
      expect(await reconcile(opaque.request.body)).toEqual({ answer: 'cannot_tell', why: 'saw a change nobody asked for', check: 'the upstream system for paths_opaque' });
    } finally {
      upstream.reconcileError = null;
    }
  });
});

describe('executor boundary: its grant journal', () => {
  // A journal that records what it was asked (tools/journal.ts has its own tests): every grant is written before the
  // upstream call; a write's is flushed to disk first, a read's is not (it changes nothing upstream).
  const uses: { jti: string; durable: boolean; executedBefore: number }[] = [];
  let refuse: KernelError | null = null;
  const journal: GrantJournal = {
    async use(jti, _expiresAt, durable) {
      uses.push({ jti, durable, executedBefore: upstream.executed.length });
      if (refuse) throw refuse;
    },
    close() {},
  };
  const journaled: Connector = {
    name: 'journaled',
    sandbox: true,
    tools: [write('journaled_change'), write('journaled_look', { impact: 'read', consequence: 'reads' })],
  };
  beforeAll(async () => {
    serveConnector(k.router, journaled, k.keys.publicKey, { journal });
    await k.kernel.refreshTools();
  });
  const run = async (tool: string) => {
    const { request, grant } = await approved(tool);
    const done = await kernelSide.send<JsonObject>('connector.journaled', { op: 'execute', body: request.body as unknown as JsonObject, digest: request.digest, grant, marker: 'm' });
    return { request, done };
  };

  it('records the grant of a write durably and of a read without a flush, each before the upstream call', async () => {
    const before = upstream.executed.length;
    const change = await run('journaled_change');
    const look = await run('journaled_look');
    expect(change.done).toMatchObject({ data: { done: true } });
    expect(look.done).toMatchObject({ data: { done: true } });
    expect(uses.slice(-2)).toEqual([
      { jti: expect.any(String), durable: true, executedBefore: before },
      { jti: expect.any(String), durable: false, executedBefore: before + 1 },
    ]);
    expect(upstream.executed.slice(-2).map((e) => e.tool)).toEqual(['journaled_change', 'journaled_look']);
  });

  it('runs nothing when the journal refuses the grant', async () => {
    refuse = new KernelError('grant_consumed', 'this executor has already acted on this grant; a grant is used once, so nothing was executed');
    try {
      const before = upstream.executed.length;
      await expect(run('journaled_change')).rejects.toMatchObject({ code: 'grant_consumed' });
      expect(upstream.executed.length).toBe(before);
    } finally {
      refuse = null;
    }
  });
});
