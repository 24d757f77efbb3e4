import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { CallToolResultSchema, McpError, type CallToolResult, type Progress } from '@modelcontextprotocol/sdk/types.js';
import type { JsonObject, RequestView } from '../../kernel/index.ts';
import { startStack, type Stack, type TestApprover } from '../support/harness.ts';
import { createTestConnector, type TestConnector } from '../support/test-connector.ts';
import { INITIALIZE, connectClient, rawPost } from '../support/mcp-client.ts';

/** The MCP gateway end to end: a real SDK client over Streamable HTTP against the whole stack on a real database. */

const CONFIG = `
holdSeconds: 3
policy:
  default: approve
  rules:
    - id: reads
      tools: [test_read_note]
      decision: allow
    - id: never-delete-all
      tools: [test_delete_all]
      decision: deny
      reason: deleting every note is never done by an agent
    - id: writes-need-owner
      tools: [test_write_note]
      decision: approve
`;

let stack: Stack;
let connector: TestConnector;
let token: string;
let owner: TestApprover;
let client: Client;

beforeAll(async () => {
  connector = createTestConnector();
  stack = await startStack({ config: CONFIG, connectors: [connector] });
  ({ token } = await stack.addAgent('mcp-agent', 'owner@example.com'));
  owner = await stack.enrollApprover('owner@example.com');
  client = await connectClient(stack.url, token);
});
afterAll(async () => {
  await client?.close();
  await stack?.close();
});

/** The first text block: the sentence for people and models; the second carries the same data as JSON. */
const text = (result: CallToolResult) => (result.content[0]?.type === 'text' ? result.content[0].text : '');
const requestIdFrom = (message: string | undefined) => /\/requests\/(req_[0-9a-f]+)/.exec(message ?? '')?.[1];
const getRequest = (requestId: string) => stack.port.send<RequestView & JsonObject>('kernel', { op: 'request.get', requestId });

/** Calls a tool and runs `onHeld` with the request id once the first progress notification says a human is asked. */
async function heldCall(name: string, args: JsonObject, onHeld: (requestId: string, progress: Progress) => Promise<void>, signal?: AbortSignal) {
  let held: Promise<void> | undefined;
  const progress: Progress[] = [];
  const call = client.callTool({ name, arguments: args }, CallToolResultSchema, {
    signal,
    onprogress: (p) => {
      progress.push(p);
      const id = requestIdFrom(p.message);
      if (!held && id) held = onHeld(id, p);
    },
  });
  const result = (await call.catch((e: unknown) => e)) as CallToolResult | Error;
  await held;
  return { result, progress };
}

describe('MCP gateway over Streamable HTTP', () => {
  it('initializes with the tools and tasks capabilities', () => {
    expect(client.getServerVersion()?.name).toBe('countersign');
    expect(client.getServerCapabilities()?.tools).toBeDefined();
    expect(client.getServerCapabilities()?.tasks?.requests?.tools?.call).toBeDefined();
    expect(client.getInstructions()).toContain('countersign_await');
  });

  it('lists connector tools with annotations from their impact, plus countersign_await and countersign_requests', async () => {
    const { tools } = await client.listTools();
    const byName = new Map(tools.map((t) => [t.name, t]));
    expect([...byName.keys()].sort()).toEqual(['countersign_await', 'countersign_requests', 'test_delete_all', 'test_read_note', 'test_write_note']);
    expect(byName.get('test_read_note')?.annotations).toMatchObject({ readOnlyHint: true, idempotentHint: true, destructiveHint: false, openWorldHint: true });
    expect(byName.get('test_write_note')?.annotations).toMatchObject({ readOnlyHint: false, destructiveHint: false, openWorldHint: true });
    expect(byName.get('test_delete_all')?.annotations).toMatchObject({ readOnlyHint: false, destructiveHint: true });
    expect(byName.get('countersign_await')?.annotations?.readOnlyHint).toBe(true);
    expect(byName.get('test_write_note')?.inputSchema.required).toEqual(['key', 'text']);
    // Every tool declares outputSchema, so the SDK client validates every later result's structuredContent.
    for (const tool of tools) expect(tool.outputSchema?.type, tool.name).toBe('object');
  });

  it('runs an allowed call at once and returns structuredContent and text', async () => {
    const before = connector.executions.length;
    const result = (await client.callTool({ name: 'test_read_note', arguments: { key: 'welcome' } })) as CallToolResult;
    expect(result.isError).toBeFalsy();
    expect(result.structuredContent).toMatchObject({ key: 'welcome', found: true, text: 'hello from the test connector' });
    expect(text(result)).toBe('hello from the test connector');
    // The model sees the data too: the second text block is the structuredContent, serialized.
    expect(result.content[1]).toEqual({ type: 'text', text: JSON.stringify(result.structuredContent) });
    expect(connector.executions.length).toBe(before + 1);
  });

  it('returns a denial as isError with the rule and its reason, and executes nothing', async () => {
    const before = connector.executions.length;
    const result = (await client.callTool({ name: 'test_delete_all', arguments: { confirm: 'yes' } })) as CallToolResult;
    expect(result.isError).toBe(true);
    expect(text(result)).toBe('Denied by policy rule "never-delete-all": deleting every note is never done by an agent');
    expect(JSON.parse((result.content[1] as { text: string }).text)).toMatchObject({ status: 'denied', reason: 'deleting every note is never done by an agent' });
    expect(connector.executions.length).toBe(before);
  });

  it('holds a call with progress naming what the human is asked, and completes it once approved with a passkey', async () => {
    const { result, progress } = await heldCall('test_write_note', { key: 'plan', text: 'ship it' }, async (id) => {
      await stack.decide(owner, id, 'approve');
    });
    expect(progress[0].message).toContain('Waiting for a human to approve: Write note "plan" (7 characters)');
    expect(progress[0].total).toBe(3);
    expect((result as CallToolResult).isError).toBeFalsy();
    expect((result as CallToolResult).structuredContent).toEqual({ key: 'plan', written: true });
    expect(connector.notes.get('plan')).toBe('ship it');
  });

  it('returns a non-error pending result after holdSeconds, then countersign_await returns the final result', async () => {
    const started = Date.now();
    const pending = (await client.callTool({ name: 'test_write_note', arguments: { key: 'later', text: 'wait for me' } })) as CallToolResult;
    expect(Date.now() - started).toBeGreaterThanOrEqual(2900);
    expect(pending.isError).toBeFalsy();
    const data = pending.structuredContent as JsonObject;
    expect(data).toMatchObject({ status: 'pending', summary: 'Write note "later" (11 characters)' });
    expect(data.approval_url).toBe(`${stack.url}/requests/${data.approval_id}`);
    expect(data.how_to_wait).toBe(`call countersign_await with {"id": "${data.approval_id}"}`);

    await stack.decide(owner, data.approval_id as string, 'approve');
    const final = (await client.callTool({ name: 'countersign_await', arguments: { id: data.approval_id } })) as CallToolResult;
    expect(final.isError).toBeFalsy();
    expect(final.structuredContent).toEqual({ key: 'later', written: true });

    const listed = (await client.callTool({ name: 'countersign_requests', arguments: { limit: 10 } })) as CallToolResult;
    const requests = (listed.structuredContent as { requests: JsonObject[] }).requests;
    expect(requests.find((r) => r.id === data.approval_id)).toMatchObject({ state: 'succeeded', tool: 'test_write_note' });
    // Two requests of one tool are told apart by what the agent sent.
    expect(requests.find((r) => r.id === data.approval_id)?.arguments).toMatchObject({ key: 'later' });
    const line = text(listed).split('\n').find((l) => l.includes(data.approval_id as string));
    expect(line).toContain('"key":"later"');
  });

  it("returns a rejection as isError with the approver's reason", async () => {
    const { result } = await heldCall('test_write_note', { key: 'nope', text: 'x' }, async (id) => {
      await stack.decide(owner, id, 'reject', 'not this week');
    });
    expect((result as CallToolResult).isError).toBe(true);
    expect(text(result as CallToolResult)).toBe('Rejected by owner@example.com: not this week');
    expect(connector.notes.has('nope')).toBe(false);
  });

  it('cancels the pending approval when the client cancels the call', async () => {
    const abort = new AbortController();
    let requestId = '';
    const { result } = await heldCall('test_write_note', { key: 'cancel-me', text: 'x' }, async (id) => {
      requestId = id;
      abort.abort('the user changed their mind');
    }, abort.signal);
    expect(result).toBeInstanceOf(Error);
    await expect.poll(async () => (await getRequest(requestId)).state, { timeout: 5000 }).toBe('cancelled');
  });

  it('runs a task-based call for a client that declares tasks: working while held, completed once approved', async () => {
    const taskClient = await connectClient(stack.url, token, { tasks: true });
    try {
      const stream = taskClient.experimental.tasks.callToolStream({ name: 'test_write_note', arguments: { key: 'task', text: 'via task' } }, CallToolResultSchema, {
        task: { ttl: 60_000 },
      });
      const seen: string[] = [];
      let final: CallToolResult | undefined;
      let approved = false;
      for await (const message of stream) {
        seen.push(message.type);
        const id = message.type === 'taskStatus' ? requestIdFrom(message.task.statusMessage) : undefined;
        if (id && !approved) {
          approved = true;
          expect(message.type === 'taskStatus' && message.task.status).toBe('working');
          await stack.decide(owner, id, 'approve');
        }
        if (message.type === 'result') final = message.result as CallToolResult;
        if (message.type === 'error') throw message.error;
      }
      expect(seen[0]).toBe('taskCreated');
      expect(final?.structuredContent).toEqual({ key: 'task', written: true });
      expect(connector.notes.get('task')).toBe('via task');
    } finally {
      await taskClient.close();
    }
  });
});

describe('MCP gateway refuses bad input clearly and keeps serving', () => {
  it('answers an unknown tool with a protocol error naming it', async () => {
    const error = await client.callTool({ name: 'test_nothing', arguments: {} }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(McpError);
    expect((error as McpError).code).toBe(-32602);
    expect((error as McpError).message).toContain('unknown tool "test_nothing"');
  });

  it('answers arguments that fail the schema with a tool error naming the field', async () => {
    const result = (await client.callTool({ name: 'test_read_note', arguments: { key: 42 } })) as CallToolResult;
    expect(result.isError).toBe(true);
    expect(text(result)).toMatch(/invalid arguments for test_read_note: args\.key: .*string/i);
  });

  it('answers malformed JSON and non-JSON-RPC bodies with spec errors', async () => {
    const auth = { authorization: `Bearer ${token}` };
    const broken = await rawPost(stack.url, '{"jsonrpc": "2.0", "method": ', auth);
    expect(broken.status).toBe(400);
    expect(((await broken.json()) as { error: { code: number } }).error.code).toBe(-32700);
    const notRpc = await rawPost(stack.url, '{"hello": "world"}', auth);
    expect(notRpc.status).toBe(400);
    expect(((await notRpc.json()) as { error: { code: number } }).error.code).toBe(-32600);
  });

  it('refuses a body over 1 MiB with 413', async () => {
    const huge = JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'ping', params: { pad: 'x'.repeat(1024 * 1024) } });
    const response = await rawPost(stack.url, huge, { authorization: `Bearer ${token}` });
    expect(response.status).toBe(413);
    expect(((await response.json()) as { error: { message: string } }).error.message).toContain('exceeds 1048576 bytes');
  });

  it('refuses missing, invalid and revoked tokens with 401 and WWW-Authenticate', async () => {
    const metadata = `resource_metadata="${stack.url}/.well-known/oauth-protected-resource"`;
    const missing = await rawPost(stack.url, INITIALIZE);
    expect(missing.status).toBe(401);
    expect(missing.headers.get('www-authenticate')).toBe(`Bearer ${metadata}`);
    const invalid = await rawPost(stack.url, INITIALIZE, { authorization: 'Bearer cs_agent_not-a-real-token' });
    expect(invalid.status).toBe(401);
    expect(invalid.headers.get('www-authenticate')).toContain('error="invalid_token"');

    const { token: doomed } = await stack.addAgent('doomed-agent', 'owner@example.com');
    const doomedClient = await connectClient(stack.url, doomed);
    await stack.port.send('kernel', { op: 'agent.revoke', name: 'doomed-agent' });
    const error = await doomedClient.listTools().catch((e: unknown) => e);
    expect(String(error)).toContain('the agent token is invalid or was revoked');
    await doomedClient.close().catch(() => {});
    const revoked = await rawPost(stack.url, INITIALIZE, { authorization: `Bearer ${doomed}` });
    expect(revoked.status).toBe(401);
    expect(revoked.headers.get('www-authenticate')).toContain(metadata);
  });

  it('serves RFC 9728 metadata for the resource', async () => {
    const response = await fetch(`${stack.url}/.well-known/oauth-protected-resource`);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ resource: `${stack.url}/mcp`, bearer_methods_supported: ['header'] });
  });

  it('refuses a foreign Origin or Host with 403 (DNS rebinding protection)', async () => {
    const auth = { authorization: `Bearer ${token}` };
    const origin = await rawPost(stack.url, INITIALIZE, { ...auth, origin: 'http://evil.example' });
    expect(origin.status).toBe(403);
    const host = await new Promise<number>((resolve, reject) => {
      // fetch() cannot set Host, so this goes through node:http.
      import('node:http').then(({ request }) => {
        const url = new URL(`${stack.url}/mcp`);
        const req = request({ host: '127.0.0.1', port: url.port, path: '/mcp', method: 'POST', headers: { ...auth, host: 'evil.example', 'content-type': 'application/json', accept: 'application/json, text/event-stream' } }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
        req.end(INITIALIZE);
      }, reject);
    });
    expect(host).toBe(403);
  });

  it("refuses a session id used with another agent's token as if it did not exist", async () => {
    const { token: other } = await stack.addAgent('other-agent', 'owner@example.com');
    const opened = await rawPost(stack.url, INITIALIZE, { authorization: `Bearer ${token}` });
    const sessionId = opened.headers.get('mcp-session-id');
    expect(sessionId).toBeTruthy();
    await opened.body?.cancel();
    const list = JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list' });
    const stolen = await rawPost(stack.url, list, { authorization: `Bearer ${other}`, 'mcp-session-id': sessionId!, 'mcp-protocol-version': '2025-11-25' });
    expect(stolen.status).toBe(404);
  });

  it('never lets an agent token act as a human: no web session, no approval', async () => {
    const web = await fetch(`${stack.url}/`, { redirect: 'manual', headers: { authorization: `Bearer ${token}`, cookie: `cs_session=${token}` } });
    expect(web.status).toBe(303);
    expect(web.headers.get('location')).toBe('/signin');
    const pending = (await client.callTool({ name: 'test_write_note', arguments: { key: 'self', text: 'approve myself' } }, CallToolResultSchema, {})) as CallToolResult;
    const id = (pending.structuredContent as JsonObject).approval_id as string;
    const reply = await stack.services.router.deliver('gateway', 'kernel', { op: 'approval.decide', requestId: id, decision: 'approve', reason: null, evidence: { kind: 'webauthn', response: {} } });
    expect(reply).toMatchObject({ ok: false, error: { code: 'capability_refused' } });
    expect((await getRequest(id)).state).toBe('pending');
  });
});

describe('MCP gateway rate limit', () => {
  let limited: Stack;
  beforeAll(async () => {
    limited = await startStack({ config: `${CONFIG}rateLimit: { perMinute: 3 }\n`, connectors: [createTestConnector()] });
  });
  afterAll(async () => limited?.close());

  it('answers an agent over its limit with 429 and Retry-After, and other agents keep their own budget', async () => {
    const { token: busy } = await limited.addAgent('busy-agent', 'owner@example.com');
    const { token: calm } = await limited.addAgent('calm-agent', 'owner@example.com');
    const statuses: number[] = [];
    let last: Response | undefined;
    for (let i = 0; i < 4; i++) {
      last = await rawPost(limited.url, INITIALIZE, { authorization: `Bearer ${busy}` });
      statuses.push(last.status);
      if (last.status !== 429) await last.body?.cancel();
    }
    expect(statuses).toEqual([200, 200, 200, 429]);
    expect(Number(last!.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(((await last!.json()) as { error: { message: string } }).error.message).toContain('busy-agent');
    const other = await rawPost(limited.url, INITIALIZE, { authorization: `Bearer ${calm}` });
    expect(other.status).toBe(200);
    await other.body?.cancel();
  });
});

describe('MCP edges found by test/fuzz', () => {
  const call = async (args: string, sessionId: string) => {
    const res = await rawPost(stack.listenUrl, `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"test_write_note","arguments":${args}}}`, {
      authorization: `Bearer ${token}`,
      'mcp-session-id': sessionId,
      'mcp-protocol-version': '2025-11-25',
    });
    return res.text();
  };

  it('refuses arguments nested 10,000 deep, and an unpaired surrogate, by name (not with an audit or digest error)', async () => {
    const opened = await rawPost(stack.listenUrl, INITIALIZE, { authorization: `Bearer ${token}` });
    const sessionId = opened.headers.get('mcp-session-id')!;
    await opened.body?.cancel();
    expect(await call(`{"key":"k","text":${'['.repeat(10_000)}${']'.repeat(10_000)}}`, sessionId)).toContain('nest deeper than 64 levels');
    expect(await call('{"key":"k","text":"fix \\ud800 now"}', sessionId)).toContain('unpaired surrogate');
  });

  it('refuses a request reusing the id of one still running in the session, and answers the first (it hung before)', async () => {
    const opened = await rawPost(stack.listenUrl, INITIALIZE, { authorization: `Bearer ${token}` });
    const sessionId = opened.headers.get('mcp-session-id')!;
    await opened.body?.cancel();
    const headers = { authorization: `Bearer ${token}`, 'mcp-session-id': sessionId, 'mcp-protocol-version': '2025-11-25' };
    // A write is held for approval (holdSeconds: 3), so the second request arrives while the first is running.
    const body = (key: string) => JSON.stringify({ jsonrpc: '2.0', id: 41, method: 'tools/call', params: { name: 'test_write_note', arguments: { key, text: 'same id' } } });
    const answer = async (res: Promise<Response>) => {
      const r = await res;
      return { status: r.status, text: await r.text() };
    };
    const first = answer(fetch(`${stack.listenUrl}/mcp`, { method: 'POST', headers: { ...headers, 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: body('first'), signal: AbortSignal.timeout(20_000) }));
    await new Promise((resolve) => setTimeout(resolve, 500));
    const second = await answer(rawPost(stack.listenUrl, body('second'), headers));
    expect(second.status).toBe(400);
    expect(JSON.parse(second.text).error).toMatchObject({ code: -32600, message: expect.stringMatching(/id 41 is already used by a request still running/) });
    const answered = await first; // without the fix: the timeout above, the second call having taken its stream
    expect(answered.status).toBe(200);
    expect(answered.text).toMatch(/"id":41/);
    // Once answered, the id is free again.
    const again = await answer(rawPost(stack.listenUrl, JSON.stringify({ jsonrpc: '2.0', id: 41, method: 'ping' }), headers));
    expect(again.text).toMatch(/"result":\{\}/);
  });

  it('frees a running request\'s id once its client hangs up, not only once it is answered', async () => {
    const opened = await rawPost(stack.listenUrl, INITIALIZE, { authorization: `Bearer ${token}` });
    const sessionId = opened.headers.get('mcp-session-id')!;
    await opened.body?.cancel();
    const headers = { authorization: `Bearer ${token}`, 'mcp-session-id': sessionId, 'mcp-protocol-version': '2025-11-25' };
    const body = (key: string, method = 'tools/call') =>
      JSON.stringify(method === 'ping' ? { jsonrpc: '2.0', id: 42, method } : { jsonrpc: '2.0', id: 42, method, params: { name: 'test_write_note', arguments: { key, text: 'hung up' } } });
    // Held for approval (holdSeconds: 3); the client goes away while it is held.
    const gone = new AbortController();
    const first = fetch(`${stack.listenUrl}/mcp`, { method: 'POST', headers: { ...headers, 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: body('hung'), signal: gone.signal });
    const response = await first;
    expect(response.status).toBe(200);
    const busy = await rawPost(stack.listenUrl, body('busy'), headers);
    expect(busy.status).toBe(400);
    await busy.body?.cancel();
    gone.abort();
    await response.body?.cancel().catch(() => {});
    // Well before the hold ends (3 s), the id is free again.
    let again: Response | undefined;
    for (let i = 0; i < 20 && again?.status !== 200; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      again = await rawPost(stack.listenUrl, body('', 'ping'), headers);
      if (again.status !== 200) await again.body?.cancel();
    }
    expect(again?.status).toBe(200);
    expect(await again!.text()).toMatch(/"result":\{\}/);
  });

  it('keeps the connection of an answered POST alive: its body was read, straight from Node', async () => {
    const { request } = await import('node:http');
    const url = new URL(stack.listenUrl);
    const post = (body: string, extra: Record<string, string>) =>
      new Promise<{ headers: Record<string, unknown>; text: string }>((resolve, reject) => {
        const req = request({ host: url.hostname, port: url.port, path: '/mcp', method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...extra } }, (res) => {
          let text = '';
          res.on('data', (d: Buffer) => (text += d.toString()));
          res.on('end', () => resolve({ headers: res.headers, text }));
        });
        req.on('error', reject);
        req.end(body);
      });
    const opened = await post(INITIALIZE, {});
    expect(opened.text).toMatch(/"protocolVersion"/);
    expect(opened.headers.connection).not.toBe('close');
    const sessionId = String(opened.headers['mcp-session-id']);
    const pinged = await post('{"jsonrpc":"2.0","id":7,"method":"ping"}', { 'mcp-session-id': sessionId, 'mcp-protocol-version': '2025-11-25' });
    expect(pinged.text).toMatch(/"id":7/);
    expect(pinged.headers.connection).not.toBe('close');
  });

  it('answers a body refused before it was read with Connection: close, so no keep-alive request is lost after it', async () => {
    const { request } = await import('node:http');
    const url = new URL(stack.listenUrl);
    const headers = await new Promise<Record<string, unknown>>((resolve, reject) => {
      const req = request({ host: url.hostname, port: url.port, path: '/mcp', method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'mcp-session-id': 'bogus' } }, (res) => {
        res.resume();
        resolve(res.headers);
      });
      req.on('error', reject);
      req.end('{"jsonrpc":"2.0","id":1,"method":"ping"}');
    });
    expect(headers.connection).toBe('close');
  });
});

describe('MCP answers a call that can receive nothing but its answer as one JSON body', () => {
  const open = async () => {
    const opened = await rawPost(stack.listenUrl, INITIALIZE, { authorization: `Bearer ${token}` });
    const sessionId = opened.headers.get('mcp-session-id')!;
    await opened.body?.cancel();
    return { authorization: `Bearer ${token}`, 'mcp-session-id': sessionId, 'mcp-protocol-version': '2025-11-25' };
  };
  const callBody = (id: number, name: string, args: JsonObject, params: JsonObject = {}) =>
    JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args, ...params } });

  it('answers a plain call and a tools/list as application/json, a call with a progress token as an event stream', async () => {
    const headers = await open();
    connector.notes.set('json', 'plain');
    const plain = await rawPost(stack.listenUrl, callBody(60, 'test_read_note', { key: 'json' }), headers);
    expect(plain.headers.get('content-type')).toBe('application/json');
    expect(plain.headers.get('mcp-session-id')).toBe(headers['mcp-session-id']);
    const answer = (await plain.json()) as { id: number; result: CallToolResult };
    expect(answer.id).toBe(60);
    expect(JSON.stringify(answer.result)).toContain('plain');
    const list = await rawPost(stack.listenUrl, JSON.stringify({ jsonrpc: '2.0', id: 61, method: 'tools/list' }), headers);
    expect(list.headers.get('content-type')).toBe('application/json');
    expect(JSON.stringify(await list.json())).toContain('test_read_note');

    const withProgress = await rawPost(stack.listenUrl, callBody(62, 'test_read_note', { key: 'json' }, { _meta: { progressToken: 'p1' } }), headers);
    expect(withProgress.headers.get('content-type')).toBe('text/event-stream');
    expect(await withProgress.text()).toMatch(/^event: message\ndata: .*"id":62/m);
  });

  it('refuses as before what the SDK transport refuses: a wrong Accept, Content-Type, protocol version or session', async () => {
    const headers = await open();
    const body = callBody(63, 'test_read_note', { key: 'json' });
    expect((await rawPost(stack.listenUrl, body, { ...headers, accept: 'application/json' })).status).toBe(406);
    expect((await rawPost(stack.listenUrl, body, { ...headers, 'content-type': 'text/plain' })).status).toBe(415);
    const version = await rawPost(stack.listenUrl, body, { ...headers, 'mcp-protocol-version': '1999-01-01' });
    expect(version.status).toBe(400);
    expect(await version.text()).toContain('Unsupported protocol version');
    expect((await rawPost(stack.listenUrl, body, { ...headers, 'mcp-session-id': 'not-a-session' })).status).toBe(404);
  });

  it('turns a call held for approval into an event stream after a second, and ends it when the call is cancelled', async () => {
    const headers = await open();
    const started = Date.now();
    const held = await rawPost(stack.listenUrl, callBody(64, 'test_write_note', { key: 'held-json', text: 'x' }), headers);
    expect(held.headers.get('content-type')).toBe('text/event-stream');
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    const pending = await held.text(); // the hold is 3 s
    expect(pending).toMatch(/^event: message\ndata: .*"status\\":\\"pending.*"id":64/m);

    const cancelStarted = Date.now();
    const cancelled = rawPost(stack.listenUrl, callBody(65, 'test_write_note', { key: 'cancel-json', text: 'x' }), headers);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const note = JSON.stringify({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 65, reason: 'test' } });
    expect((await rawPost(stack.listenUrl, note, headers)).status).toBe(202);
    const ended = await cancelled;
    expect(Date.now() - cancelStarted).toBeLessThan(2500); // well before its own 3 s hold
    expect(ended.headers.get('content-type')).toBe('text/event-stream');
    expect(await ended.text()).toBe('');
    // Its id is free again.
    const again = await rawPost(stack.listenUrl, JSON.stringify({ jsonrpc: '2.0', id: 65, method: 'ping' }), headers);
    expect(await again.json()).toMatchObject({ id: 65, result: {} });
  });

  it('ends a held call without an answer when its session is deleted', async () => {
    const headers = await open();
    const held = rawPost(stack.listenUrl, callBody(66, 'test_write_note', { key: 'deleted-json', text: 'x' }), headers);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const started = Date.now();
    const deleted = await fetch(`${stack.listenUrl}/mcp`, { method: 'DELETE', headers });
    expect(deleted.status).toBe(200);
    const ended = await held;
    expect(await ended.text()).toBe('');
    expect(Date.now() - started).toBeLessThan(1500);
  });
});
