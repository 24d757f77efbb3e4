import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { JSONRPCMessageSchema } from '@modelcontextprotocol/sdk/types.js';
import { defaultAllowed, isJsonRpcMessage, originGuard, rateLimiter, readJsonBody } from '../../gateway/mcp/guard.ts';
import { annotate, listedTool } from '../../gateway/mcp/tools.ts';
import type { ToolInfo } from '../../kernel/index.ts';

const tool = (impact: ToolInfo['impact'], consequence: ToolInfo['consequence']): ToolInfo => ({
  name: 't', title: 'T', description: '', inputSchema: {}, impact, consequence, connector: 'c', sandbox: false,
});

describe('annotations derive from impact and consequence', () => {
  it('marks reads read-only and idempotent, and high or money-moving or deleting tools destructive', () => {
    expect(annotate(tool('read', 'reads'))).toMatchObject({ readOnlyHint: true, idempotentHint: true, destructiveHint: false, openWorldHint: true });
    expect(annotate(tool('write', 'writes'))).toMatchObject({ readOnlyHint: false, idempotentHint: false, destructiveHint: false });
    expect(annotate(tool('write', 'moves-money')).destructiveHint).toBe(true);
    expect(annotate(tool('write', 'deletes')).destructiveHint).toBe(true);
    expect(annotate(tool('high', 'changes-code')).destructiveHint).toBe(true);
  });
});

describe('listed descriptions', () => {
  it('tell the agent a write may wait for a human (policy decides), say nothing of the kind for reads, and name the sandbox', () => {
    const write = { ...tool('write', 'writes'), description: 'Open an issue in a repository.' };
    expect(listedTool(write).description).toBe("Open an issue in a repository. May need a human's approval, depending on policy.");
    expect(listedTool({ ...tool('read', 'reads'), description: 'Read a repository.' }).description).toBe('Read a repository.');
    const said = { ...write, description: 'Refund a charge. May need approval, depending on policy; money cannot be recovered.' };
    expect(listedTool(said).description).toBe(said.description);
    expect(listedTool({ ...write, sandbox: true }).description).toMatch(/policy\. \(SANDBOX: talks to a local sandbox, not the real service\)$/);
  });
});

describe('DNS rebinding guard', () => {
  const { allowedHosts, allowedOrigins } = defaultAllowed('https://cs.example.com', 8787);
  const guard = originGuard(allowedHosts, allowedOrigins);
  const req = (headers: Record<string, string>) => new Request('http://127.0.0.1:8787/mcp', { method: 'POST', headers });

  it('accepts the public host, loopback on the listening port, and no Origin', () => {
    expect(guard(req({ host: 'cs.example.com' }))).toBeNull();
    expect(guard(req({ host: '127.0.0.1:8787' }))).toBeNull();
    expect(guard(req({ host: 'localhost:8787', origin: 'http://localhost:8787' }))).toBeNull();
    expect(guard(req({ host: 'cs.example.com', origin: 'https://cs.example.com' }))).toBeNull();
  });

  it('refuses a foreign Host or Origin with 403 and says which', async () => {
    const host = guard(req({ host: 'evil.example' }));
    expect(host?.status).toBe(403);
    expect(((await host!.json()) as { error: { message: string } }).error.message).toContain('"evil.example"');
    const origin = guard(req({ host: 'cs.example.com', origin: 'https://evil.example' }));
    expect(origin?.status).toBe(403);
  });
});

describe('per-agent rate limit', () => {
  it('allows perMinute requests, then says when to retry, and refills over time', () => {
    let now = 0;
    const limit = rateLimiter(2, () => now);
    expect(limit('a')).toEqual({ ok: true });
    expect(limit('a')).toEqual({ ok: true });
    expect(limit('a')).toEqual({ ok: false, retryAfterSeconds: 30 });
    expect(limit('b')).toEqual({ ok: true });
    now += 30_000;
    expect(limit('a')).toEqual({ ok: true });
  });

  it('refuses a nonsensical limit at construction', () => {
    expect(() => rateLimiter(0)).toThrow(/positive/);
  });
});

describe('body reader', () => {
  const post = (body: string, headers: Record<string, string> = {}) => new Request('http://x/mcp', { method: 'POST', body, headers });

  it('parses JSON within the limit', async () => {
    expect(await readJsonBody(post('{"a":1}'), 100)).toEqual({ ok: true, value: { a: 1 } });
  });

  it('refuses bodies over the limit by declared length and by counted bytes', async () => {
    const declared = await readJsonBody(post('{}', { 'content-length': '1000' }), 100);
    expect(declared.ok === false && declared.response.status).toBe(413);
    const counted = await readJsonBody(post(JSON.stringify({ pad: 'x'.repeat(200) })), 100);
    expect(counted.ok === false && counted.response.status).toBe(413);
  });

  it('reads a declared body whole where the server enforces its length, and still counts what arrives', async () => {
    const declared = (body: string, length: number) => post(body, { 'content-length': String(length) });
    expect(await readJsonBody(declared('{"a":"é"}', 10), 100, true)).toEqual({ ok: true, value: { a: 'é' } });
    const refused = await readJsonBody(declared('{}', 1000), 100, true);
    expect(refused.ok === false && refused.response.status).toBe(413);
    // A server that lets more through than declared (not Node's parser) is still bounded by what arrives.
    const lying = await readJsonBody(declared(JSON.stringify({ pad: 'x'.repeat(200) }), 10), 100, true);
    expect(lying.ok === false && lying.response.status).toBe(413);
    // Without a declared length (chunked), the bytes are counted as they stream in.
    const chunked = await readJsonBody(post(JSON.stringify({ pad: 'x'.repeat(200) })), 100, true);
    expect(chunked.ok === false && chunked.response.status).toBe(413);
    const broken = await readJsonBody(declared('{nope', 5), 100, true);
    expect(broken.ok === false && broken.response.status).toBe(400);
  });

  it('answers invalid JSON with a JSON-RPC parse error', async () => {
    const result = await readJsonBody(post('{nope'), 100);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(await result.response.json()).toMatchObject({ jsonrpc: '2.0', error: { code: -32700 }, id: null });
  });
});

describe('JSON-RPC message check', () => {
  const schema = (m: unknown) => JSONRPCMessageSchema.safeParse(m).success;
  // Values near the edges of each field: ids and tokens that are and are not strings or safe integers, objects that
  // are and are not records, extra keys.
  const edge = fc.constantFrom<unknown>('2.0', '2', 2, '', 'x', 0, -0, 1.5, -7, 2 ** 53, 2 ** 53 - 1, Number.MAX_VALUE, null, true, [], {}, [1], { a: 1 });
  const meta = fc.dictionary(fc.constantFrom('progressToken', 'io.modelcontextprotocol/related-task', 'other', '__proto__'), fc.oneof(edge, fc.record({ taskId: edge })), { maxKeys: 3 });
  const params = fc.oneof(edge, fc.dictionary(fc.constantFrom('_meta', 'name', 'arguments', 'task'), fc.oneof(edge, meta), { maxKeys: 3 }));
  const message = fc.dictionary(fc.constantFrom('jsonrpc', 'id', 'method', 'params', 'result', 'error', 'extra'), fc.oneof(edge, params, fc.string()), { maxKeys: 5 });
  const requestLike = fc.record({ jsonrpc: fc.oneof(fc.constant('2.0'), edge), id: fc.oneof(fc.string(), fc.integer(), edge), method: fc.oneof(fc.string(), edge), params: fc.oneof(params, fc.record({ _meta: meta })) }, { requiredKeys: ['jsonrpc', 'id', 'method'] });

  it('says what the SDK schema says, for every message (its fast path for plain requests accepts nothing more)', () => {
    fc.assert(fc.property(fc.oneof(message, requestLike, edge), (m) => isJsonRpcMessage(m) === schema(m)), { numRuns: 5000 });
    for (const m of [
      { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 't', arguments: { a: 1 }, _meta: { progressToken: 'p' } } },
      { jsonrpc: '2.0', id: 'a', method: 'ping' },
      JSON.parse('{"jsonrpc":"2.0","id":1,"method":"ping","__proto__":{}}'),
      JSON.parse('{"jsonrpc":"2.0","id":1,"method":"ping","params":{"_meta":{"progressToken":1.5}}}'),
      { jsonrpc: '2.0', id: 1.5, method: 'ping' },
      { jsonrpc: '2.0', id: null, method: 'ping' },
      { jsonrpc: '2.0', method: 'notifications/initialized' },
    ]) expect(isJsonRpcMessage(m)).toBe(schema(m));
  });
});
