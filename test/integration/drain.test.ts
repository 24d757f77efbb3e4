import { mkdtempSync, rmSync } from 'node:fs';
import { Agent, request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { drainHttp, serveHttp } from '../../gateway/edge.ts';
import { BIN, run, startServer, type ServerProcess } from '../support/cli-process.ts';
import { freePort } from '../support/harness.ts';
import { serverTimeout } from '../support/isolation-mode.ts';
import { connectClient } from '../support/mcp-client.ts';

/**
 * Stopping a server must not answer from services that are closing. Seen in the README story: after SIGTERM the old
 * process kept a client's kept-alive connection open and answered its next MCP call with 500 from a closed database,
 * so the stdio bridge could not tell whether the call ran. Now: idle connections close at once, requests inside finish
 * and close their connection, anything that still arrives gets 503 "not run, send again", and nothing reaches the app.
 */

const listening = (server: ReturnType<typeof serveHttp>) =>
  new Promise<number>((resolve) => server.once('listening', () => resolve((server.address() as { port: number }).port)));

describe('drainHttp', () => {
  it('closes idle connections, lets a running request answer with Connection: close, and runs nothing new', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const seen: string[] = [];
    const server = serveHttp(
      async (req) => {
        const path = new URL(req.url).pathname;
        seen.push(path);
        if (path === '/slow') await gate;
        return new Response(path);
      },
      { port: 0, hostname: '127.0.0.1' },
    );
    const port = await listening(server);

    // An idle kept-alive connection, as a client pool leaves it.
    const idle = connect(port, '127.0.0.1');
    const idleClosed = new Promise<void>((resolve) => idle.once('close', () => resolve()));
    idle.write('GET /ok HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    await new Promise<void>((resolve) => idle.once('data', () => resolve()));

    // A request inside the app when the stop begins.
    const busy = connect(port, '127.0.0.1');
    let answer = '';
    busy.on('data', (d: Buffer) => (answer += d.toString()));
    const busyClosed = new Promise<void>((resolve) => busy.once('close', () => resolve()));
    busy.write('GET /slow HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    while (!seen.includes('/slow')) await new Promise((resolve) => setTimeout(resolve, 5));

    const drained = drainHttp(server, 30_000);
    await idleClosed;
    // The client sends its next request on the busy connection before the first answer: it must not run.
    busy.write('POST /write HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n');
    await new Promise((resolve) => setTimeout(resolve, 50));
    release();
    await busyClosed;
    await drained;

    expect(seen).toEqual(['/ok', '/slow']);
    expect(answer).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(answer.toLowerCase()).toContain('connection: close');
    expect(answer).not.toMatch(/HTTP\/1\.1 5\d\d/);
    expect(server.listening).toBe(false);
  });

  it('answers 503 with Retry-After, never 500, to a request that arrives while draining', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let calls = 0;
    const server = serveHttp(
      async () => {
        calls += 1;
        await gate;
        return new Response('late');
      },
      { port: 0, hostname: '127.0.0.1' },
    );
    const port = await listening(server);
    const agent = new Agent({ keepAlive: true });
    const get = (path: string) =>
      new Promise<{ status: number; headers: Record<string, unknown>; body: string }>((resolve, reject) => {
        const req = httpRequest({ port, host: '127.0.0.1', path, method: 'POST', agent, headers: { 'content-type': 'application/json' } }, (res) => {
          let body = '';
          res.on('data', (d: Buffer) => (body += d.toString()));
          res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
        });
        req.on('error', reject);
        req.end('{}');
      });
    const first = get('/mcp');
    while (calls === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    const drained = drainHttp(server, 30_000);
    // A second connection opened before the stop, now sending: the app is not called again.
    const late = await new Promise<{ status: number; headers: Record<string, unknown>; body: string }>((resolve, reject) => {
      const socket = connect(port, '127.0.0.1');
      socket.on('error', reject);
      let text = '';
      socket.on('data', (d: Buffer) => (text += d.toString()));
      socket.on('close', () => {
        const [head = '', body = ''] = text.split('\r\n\r\n');
        const status = Number(/^HTTP\/1\.1 (\d+)/.exec(head)?.[1] ?? 0);
        resolve({ status, headers: { 'retry-after': /retry-after: (\d+)/i.exec(head)?.[1] }, body });
      });
      socket.write('POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n\r\n{}');
    }).catch(() => null);
    release();
    expect((await first).status).toBe(200);
    await drained;
    agent.destroy();
    expect(calls).toBe(1);
    // The listener is closed, so a new connection is refused; had it been accepted before the close it reads 503.
    if (late && late.status) {
      expect(late.status).toBe(503);
      expect(late.headers['retry-after']).toBe('1');
      expect(JSON.parse(late.body)).toMatchObject({ error: { code: -32000, message: expect.stringContaining('shutting down') } });
    }
  });
});

/** Servers the tests below start, each in a folder of its own: stopped and removed after the file. */
const started: { dir: string; server: ServerProcess }[] = [];
afterAll(async () => {
  for (const { dir, server } of started.splice(0)) {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

/** `countersign start` with the example config in a new folder (`extra` added to its environment), and an agent's token. */
async function startWithAgent(prefix: string, agent: string, extra: NodeJS.ProcessEnv = {}) {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const port = await freePort();
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: String(port), COUNTERSIGN_HOME: join(dir, '.countersign'), ...extra };
  for (const key of ['DATABASE_URL', 'COUNTERSIGN_CONFIG', 'COUNTERSIGN_PUBLIC_URL']) delete env[key];
  const server = await startServer({ cwd: dir, env });
  started.push({ dir, server });
  const added = await run([process.execPath, BIN, 'agent', 'add', agent, '--owner', 'you@example.com', '--json'], { cwd: dir, env });
  expect(added.code, added.stdout + added.stderr).toBe(0);
  return { port, server, token: (JSON.parse(added.stdout) as { token: string }).token };
}

describe('countersign start, stopped under a client that keeps its connection alive', () => {
  it('never answers 500 after SIGTERM: each call is answered as before, refused with 503, or finds the connection closed', async () => {
    const { port, server, token } = await startWithAgent('countersign-drain-', 'kept-alive');

    // One kept-alive socket, as a client pool uses it: first a session with its event stream open on the socket, and
    // calls queued behind the stream. When the stopping server ends the stream, the socket is free and kept alive.
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
    const send = (method: string, extra: Record<string, string>, body?: unknown, onResponse?: (res: import('node:http').IncomingMessage) => void) =>
      new Promise<{ status: number | string; session?: string }>((resolve) => {
        const req = httpRequest({ port, host: '127.0.0.1', path: '/mcp', method, agent, headers: { ...headers, ...extra } }, (res) => {
          onResponse?.(res);
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode!, session: res.headers['mcp-session-id'] as string | undefined }));
          res.on('error', () => resolve({ status: res.statusCode! }));
        });
        req.on('error', (error: NodeJS.ErrnoException) => resolve({ status: error.code ?? error.message }));
        req.end(body === undefined ? undefined : JSON.stringify(body));
      });
    const init = await send('POST', {}, { jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'kept-alive', version: '1' } } });
    expect(init.status).toBe(200);
    const session = { 'mcp-session-id': init.session!, 'mcp-protocol-version': '2025-06-18' };
    expect((await send('POST', session, { jsonrpc: '2.0', method: 'notifications/initialized' })).status).toBe(202);
    let streamOpen!: () => void;
    const opened = new Promise<void>((resolve) => (streamOpen = resolve));
    void send('GET', session, undefined, () => streamOpen());
    await opened;
    const ping = async () => (await send('POST', session, { jsonrpc: '2.0', id: 1, method: 'ping' })).status;

    const outcomes: (number | string)[] = [];
    const exited = new Promise<void>((resolve) => server.child.once('exit', () => resolve()));
    let gone = false;
    void exited.then(() => (gone = true));
    const loop = (async () => {
      // Bounded, so a server that never exits fails the test instead of hanging it.
      while (!gone && outcomes.length < 2000) {
        const outcome = await ping();
        outcomes.push(outcome);
        if (typeof outcome === 'string') await new Promise((resolve) => setTimeout(resolve, 10));
      }
      if (gone) outcomes.push(await ping());
    })();
    // SIGTERM to the server alone (not its group), the way a supervisor stops it.
    server.child.kill('SIGTERM');
    await loop;
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 20_000))]);
    agent.destroy();
    // "404 404 ECONNREFUSED ECONNREFUSED" reads "404×2 ECONNREFUSED×2".
    const seen = outcomes.reduce<[number | string, number][]>((runs, o) => {
      if (runs.at(-1)?.[0] === o) runs.at(-1)![1] += 1;
      else runs.push([o, 1]);
      return runs;
    }, []).map(([o, n]) => `${o}×${n}`).join(' ');

    expect(outcomes.filter((o) => typeof o === 'number' && o >= 500 && o !== 503), seen).toEqual([]);
    expect(gone, `the server did not exit; calls on its kept-alive connection got: ${seen}`).toBe(true);
    expect(outcomes.at(-1), seen).toBe('ECONNREFUSED');
  }, serverTimeout(120_000));
});

describe('countersign start, stopped while an agent waits for an approval', () => {
  it('answers the held call with its pending request and why it stopped holding, instead of dropping the connection', async () => {
    const { port, server, token } = await startWithAgent('countersign-drain-held-', 'held');
    const url = `http://127.0.0.1:${port}`;
    const agent = await connectClient(url, token);
    const watcher = await connectClient(url, token);
    // The example policy's default: an issue waits for its owner's approval, and the call is held meanwhile.
    const held = agent.callTool({ name: 'github_create_issue', arguments: { owner: 'acme', repo: 'web', title: 'Held across a stop' } }, undefined, { timeout: 60_000 });
    let id: string | undefined;
    for (let i = 0; i < 200 && !id; i++) {
      const listed = await watcher.callTool({ name: 'countersign_requests', arguments: {} });
      id = (listed.structuredContent as { requests: { id: string; state: string }[] }).requests.find((r) => r.state === 'pending')?.id;
      if (!id) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(id).toBeDefined();
    await watcher.close();
    const exited = new Promise<void>((resolve) => server.child.once('exit', () => resolve()));
    server.child.kill('SIGTERM');
    const answer = await held;
    expect(answer.isError ?? false).toBe(false);
    expect(answer.structuredContent).toMatchObject({ status: 'pending', approval_id: id, how_to_wait: `call countersign_await with {"id": "${id}"}`, interrupted: 'this Countersign server is stopping' });
    expect((answer.content as { text: string }[])[0]!.text).toContain(`The request ${id} is recorded and runs at most once; do not call the tool again.`);
    await agent.close().catch(() => {});
    await exited;
  }, serverTimeout(120_000));
});

describe('countersign start (process set), stopped while a crashed executor waits out its restart backoff', () => {
  it('exits as soon as the set has drained, not when the backoff would have ended', async () => {
    const { port, server } = await startWithAgent('countersign-drain-backoff-', 'unused', { COUNTERSIGN_ISOLATION: 'process' });
    type Health = { processes: { name: string; pid: number | null; state: string }[] };
    const executor = async () => ((await (await fetch(`http://127.0.0.1:${port}/healthz`)).json()) as Health).processes.find((p) => p.name === 'executor:github');
    // Four quick crashes in a row: the fifth restart waits 500 ms * 2^5 = 16 s (gateway/isolation/supervisor.ts).
    let killed: number | null = null;
    for (let crash = 1; crash <= 5; crash++) {
      const upAgain = (p: Awaited<ReturnType<typeof executor>>) => p?.pid && p.pid !== killed && p.state === 'up';
      let up = await executor();
      for (let i = 0; i < 600 && !upAgain(up); i++) (await new Promise((r) => setTimeout(r, 100)), (up = await executor()));
      expect(up, `executor:github up before crash ${crash}`).toMatchObject({ state: 'up' });
      process.kill((killed = up!.pid!), 'SIGKILL');
    }
    const exited = new Promise<void>((resolve) => server.child.once('exit', () => resolve()));
    await new Promise((r) => setTimeout(r, 500)); // the supervisor has seen the crash and started its backoff
    const stopping = Date.now();
    server.child.kill('SIGTERM');
    await exited;
    // Draining the edge, the idle executor and the kernel takes a few seconds here; the old code waited out 16 s.
    expect(Date.now() - stopping).toBeLessThan(10_000);
  }, serverTimeout(240_000));
});
