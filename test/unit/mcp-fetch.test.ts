import { createServer, type Server } from 'node:http';
import { getEventListeners } from 'node:events';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { z } from 'zod';
import { Downstream } from '../../tools/mcp/downstream.ts';
import { downstreamFetch } from '../../tools/mcp/fetch.ts';
import { underWay } from '../../net/abort.ts';
import { startSlowServer, type SlowServer } from '../support/downstream-http.ts';

// The downstream MCP client's own fetch (issue 13): what the SDK transport sees must not change (JSON and SSE answers,
// progress, cancellation, sessions), and an exchange must leave nothing behind on the transport's long-lived signal.

async function listen(handler: Parameters<typeof createServer>[1]): Promise<{ url: string; server: Server }> {
  const server = createServer(handler);
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`, server };
}
const stop = (server: Server) => new Promise<void>((ok) => { server.closeAllConnections(); server.close(() => ok()); });

/** An SDK server, stateless, answering as JSON or as an event stream: `echo`, and `steps`, which reports progress. */
const authorizations: (string | undefined)[] = [];
async function sdkServer(json: boolean) {
  return listen(async (req, res) => {
    authorizations.push(req.headers.authorization);
    const mcp = new McpServer({ name: 'echo', version: '1.0.0' });
    mcp.registerTool('echo', { inputSchema: { text: z.string() } }, async ({ text }) => ({ content: [{ type: 'text', text }] }));
    mcp.registerTool('steps', { inputSchema: { n: z.number() } }, async ({ n }, extra) => {
      for (let i = 1; i <= n; i++) {
        await extra.sendNotification({ method: 'notifications/progress', params: { progressToken: extra._meta!.progressToken!, progress: i, total: n } });
      }
      return { content: [{ type: 'text', text: `${n} steps` }] };
    });
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: json });
    res.on('close', () => void transport.close());
    await mcp.connect(transport);
    await transport.handleRequest(req, res);
  });
}

/** The SDK client over downstreamFetch, recording the content type of every answer the transport was handed. */
async function client(url: string) {
  const fetch = downstreamFetch();
  const seen: string[] = [];
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    requestInit: { headers: { authorization: 'Bearer downstream-secret' } },
    fetch: async (u, init) => {
      const response = await fetch(u, init);
      if (init?.method === 'POST') seen.push(`${init.method} ${response.status} ${response.headers.get('content-type') ?? ''}`);
      return response;
    },
  });
  const c = new Client({ name: 't', version: '1' });
  await c.connect(transport);
  return { c, seen };
}

describe('answers as the SDK transport expects them', () => {
  for (const json of [false, true]) {
    it(`from a server that answers with ${json ? 'JSON' : 'event streams'}: calls, progress, errors`, async () => {
      const { url, server } = await sdkServer(json);
      const { c, seen } = await client(url);
      seen.length = 0;
      const echoed = await c.callTool({ name: 'echo', arguments: { text: 'héllo ✓'.repeat(500) } });
      expect(echoed.content).toEqual([{ type: 'text', text: 'héllo ✓'.repeat(500) }]);
      // An event stream that carries only the answer reaches the SDK as that answer in JSON.
      expect(seen).toEqual(['POST 200 application/json']);
      seen.length = 0;
      const progress: number[] = [];
      const stepped = await c.callTool({ name: 'steps', arguments: { n: 3 } }, undefined, { onprogress: (p) => progress.push(p.progress) });
      expect(stepped.content).toEqual([{ type: 'text', text: '3 steps' }]);
      // Progress goes to the SDK as the stream it came in, as it arrived (a JSON server cannot send it).
      expect(progress).toEqual(json ? [] : [1, 2, 3]);
      expect(seen).toEqual([json ? 'POST 200 application/json' : 'POST 200 text/event-stream']);
      const failed = await c.callTool({ name: 'nope', arguments: {} });
      expect(failed.isError).toBe(true);
      // The configured headers reach the server on every exchange.
      expect(new Set(authorizations)).toEqual(new Set(['Bearer downstream-secret']));
      await c.close();
      await stop(server);
    });
  }
});

describe('an event stream is handed over as JSON only when it carries nothing but the answers and ends', () => {
  const answer = 'data: {"jsonrpc":"2.0","id":7,"result":{"ok":true}}\n\n';
  const cases: [string, string[], string][] = [
    ['the answer, named message', ['event: message\n' + answer], 'application/json'],
    ['the answer in two pieces, CRLF lines', ['data: {"jsonrpc":"2.0",\r\n', 'data: "id":7,"result":{"ok":true}}\r\n\r\n'], 'application/json'],
    ['an event id (resumable)', ['id: 1\n' + answer], 'text/event-stream'],
    ['a retry field', ['retry: 500\n' + answer], 'text/event-stream'],
    ['a notification first', ['data: {"jsonrpc":"2.0","method":"notifications/message","params":{}}\n\n', answer], 'text/event-stream'],
    ['an answer to another id', ['data: {"jsonrpc":"2.0","id":8,"result":{}}\n\n'], 'text/event-stream'],
    ['no answer at all', [': keep-alive\n\n'], 'text/event-stream'],
    ['an event after the answer', [answer, 'data: {"jsonrpc":"2.0","method":"notifications/message","params":{}}\n\n'], 'text/event-stream'],
    ['a stream left open after the answer', [answer, 'WAIT'], 'text/event-stream'],
  ];
  let url: string;
  let server: Server;
  let current: string[] = [];
  beforeAll(async () => {
    ({ url, server } = await listen(async (req, res) => {
      for await (const _ of req);
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      // Pieces apart (separate reads), the end right after the last piece: no outcome here depends on timing, since
      // an answer held past the 20 ms grace (a stalled machine) goes to the SDK as the stream, the expectation for
      // every case whose stream is not simply the answer and its end.
      for (const [i, piece] of current.entries()) {
        if (i > 0) await new Promise((ok) => setTimeout(ok, piece === 'WAIT' ? 100 : 5));
        if (piece !== 'WAIT') res.write(piece);
      }
      res.end();
    }));
  });
  afterAll(() => stop(server));

  for (const [name, pieces, type] of cases) {
    it(`${name}: ${type}`, async () => {
      current = pieces;
      const fetch = downstreamFetch();
      const response = await fetch(url, { method: 'POST', body: '{"jsonrpc":"2.0","id":7,"method":"ping"}', redirect: 'manual', headers: { 'content-type': 'application/json' } });
      expect(response.headers.get('content-type')).toBe(type);
      const raw = pieces.filter((p) => p !== 'WAIT').join('');
      if (type === 'application/json') expect(await response.json()).toEqual({ jsonrpc: '2.0', id: 7, result: { ok: true } });
      else expect(await new Response(response.body).text()).toBe(raw); // every byte, in order
    });
  }
});

describe('the long-lived signal and cancellation', () => {
  let slow: SlowServer;
  beforeAll(async () => {
    slow = await startSlowServer();
  });
  afterAll(() => slow.stop());

  it("leaves no listener on the transport's signal after 200 calls (Node's fetch left one per call until GC)", async () => {
    const downstream = new Downstream('slow', { url: slow.url });
    await downstream.start();
    expect(downstream.state).toBe('up');
    await Promise.all(Array.from({ length: 200 }, (_, i) => downstream.call('count', { steps: 1 + (i % 2), delayMs: 0 })));
    const signal = (downstream as unknown as { transport: { _abortController: AbortController } }).transport._abortController.signal;
    // One listener serves every exchange on the signal; of these, only the standalone GET stream's is still under way.
    expect(getEventListeners(signal, 'abort').length).toBeLessThanOrEqual(1);
    expect(underWay(signal)).toBeLessThanOrEqual(1);
    await downstream.close();
    // 200 calls over HTTP: 1.9 s on an idle two-core machine, past the default 5 s while the rest of the suite runs.
  }, 30_000);

  it('still cancels a running call downstream; an exchange whose signal aborts rejects and is let go', async () => {
    const downstream = new Downstream('slow', { url: slow.url });
    await downstream.start();
    const controller = new AbortController();
    const call = downstream.call('wait', { tag: 'fetch-cancel' }, { signal: controller.signal });
    await expect.poll(() => slow.started).toContain('fetch-cancel');
    controller.abort('the agent cancelled');
    await expect(call).rejects.toMatchObject({ code: 'cancelled' });
    await expect.poll(() => slow.cancelled.map((c) => c.tag)).toContain('fetch-cancel');
    await downstream.close();

    // An exchange whose signal aborts before its answer: the fetch rejects with the signal's reason, listener gone.
    const { url, server } = await listen(() => {}); // never answers
    const aborter = new AbortController();
    const pending = downstreamFetch()(url, { method: 'POST', body: '{}', redirect: 'manual', signal: aborter.signal });
    await new Promise((ok) => setTimeout(ok, 20));
    expect(underWay(aborter.signal)).toBe(1);
    aborter.abort(new Error('closing'));
    await expect(pending).rejects.toThrow('closing');
    expect(underWay(aborter.signal)).toBe(0);
    await stop(server);
  });
});
