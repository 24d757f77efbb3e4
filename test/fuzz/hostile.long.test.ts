import { get } from 'node:http';
import { connect } from 'node:net';
import fc from 'fast-check';
import { exportJWK, generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSoftAuthenticator, type SoftAuthenticator } from '../support/authenticator.ts';
import { INITIALIZE } from '../support/mcp-client.ts';
import { cliFor, type Cli } from '../support/remote-approver.ts';
import { startServerProcess, type ServerProcess } from '../support/server-process.ts';
import { exchange, hostileCase, render, type Target } from './hostile-http.ts';
import { expectRpcAnswer, mcpArbitraries, mcpHeaders, type Answer, type ListedTool } from './mcp-arbitraries.ts';
import { edgeRoutes } from '../support/edge-routes.ts';
import { count, runs } from './settings.ts';

/**
 * The long fuzz of issue 12 (`npm run fuzz -- --long`), against a real `countersign start` in its own process and
 * temporary home, as the README starts it: FUZZ_RUNS (100,000) mutated JSON-RPC messages and tool calls to /mcp, a
 * tenth of that in raw /mcp bodies with odd headers, and a tenth in hostile HTTP written byte by byte to every route the
 * edge app registers (test/support/edge-routes.ts), signed in and not, plus slow clients that stall. The property: no answer is
 * a 5xx, every request is answered (or the connection closed by the server's own limits), the process never exits, and
 * its resident memory (VmRSS) stays flat: start, peak and end are printed. Cases go out in concurrent batches (a
 * server is not fuzzed one request at a time); a failing batch shrinks like any other value and replays from the seed.
 */

const BATCH = 8;
/**
 * FUZZ_MINUTES bounds a run on a slow machine: each target gets its share of the minutes and stops there, what ran
 * counting as passed, and the summary says how many cases that was against the FUZZ_RUNS asked for.
 */
const minutes = Number(process.env.FUZZ_MINUTES ?? '');
const budget = (share: number) => (minutes > 0 ? { interruptAfterTimeLimit: minutes * share * 60_000, markInterruptAsFailure: false } : {});
const CONFIG = `
trustProxy: [loopback]
holdSeconds: 0
rateLimit: { perMinute: 100000000 }
roles:
  auditor: [owner@example.com]
policy:
  default: approve
  rules:
    - id: reads
      tools: [github_get_*, github_list_*, stripe_get_*, stripe_list_*]
      decision: allow
    - id: no-payouts
      tools: [stripe_create_payout]
      decision: deny
`;

let server: ServerProcess;
let cli: Cli;
let token: string;
let session: string;
let tools: ListedTool[] = [];
let routes: string[] = [];
let passkey: SoftAuthenticator;
const web = { cookie: '', csrf: '', requestId: '', invite: '', deviceId: '', asset: '' };
const rss = { start: 0, peak: 0, end: 0, samples: 0 };
let sampler: NodeJS.Timeout | undefined;
const tally = { mcp: 0, raw: 0, http: 0, slow: 0, statuses: new Map<number, number>(), closedByServer: 0 };
const started = Date.now();
const closedSamples: string[] = [];

const origin = () => `http://localhost:${server.port}`;
const sample = () => {
  if (!server.alive()) return;
  const bytes = server.rssBytes();
  rss.peak = Math.max(rss.peak, bytes);
  rss.end = bytes;
  rss.samples += 1;
};
const MB = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MB`;

async function mcpPost(body: string | Uint8Array, headers: Record<string, string> = {}, method = 'POST'): Promise<Answer> {
  try {
    const res = await fetch(`${server.url}/mcp`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-session-id': session,
        'mcp-protocol-version': '2025-11-25',
        ...headers,
      },
      body: method === 'GET' || method === 'HEAD' ? undefined : typeof body === 'string' ? body : Buffer.from(body),
      signal: AbortSignal.timeout(30_000),
    });
    const type = res.headers.get('content-type') ?? '';
    // A GET on a live session opens the server's own event stream, which stays open: its headers are the answer.
    const standalone = method === 'GET' && type.startsWith('text/event-stream');
    if (standalone) await res.body?.cancel();
    const answer = { status: res.status, type, text: standalone ? '' : await res.text() };
    tally.statuses.set(answer.status, (tally.statuses.get(answer.status) ?? 0) + 1);
    return answer;
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    const sent = `${method} ${JSON.stringify(headers)} ${typeof body === 'string' ? body.slice(0, 200) : 'bytes'} (${body.length} long)`;
    throw new Error(`no answer (${(error as Error).message}: ${cause?.code} ${cause?.message}; server ${server.alive() ? 'alive' : 'exited'}) to ${sent}\n${server.stderr().slice(-2000)}`);
  }
}

async function openSession(): Promise<string> {
  const res = await fetch(`${server.url}/mcp`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
    body: INITIALIZE,
  });
  await res.text();
  const id = res.headers.get('mcp-session-id');
  if (!id) throw new Error(`initialize answered ${res.status} without a session`);
  await mcpPost(JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }), { 'mcp-session-id': id });
  return id;
}

/** POST JSON as the pages do (same origin, the CSRF token, the cookies); returns status, JSON and the Set-Cookie. */
async function webPost(path: string, body: unknown, cookie: string, csrf: string) {
  const res = await fetch(`${server.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', origin: origin(), cookie, 'x-csrf-token': csrf }, body: JSON.stringify(body), redirect: 'manual' });
  const text = await res.text();
  return { status: res.status, json: (text.startsWith('{') ? JSON.parse(text) : {}) as Record<string, unknown>, setCookie: res.headers.getSetCookie() };
}
const cookieOf = (setCookie: string[], name: string) => setCookie.map((c) => c.split(';')[0]!).find((c) => c.startsWith(`${name}=`))?.slice(name.length + 1) ?? '';

/** A page's pre-session CSRF cookie and token (double submit), as the browser gets them. */
async function preSession(path: string): Promise<{ cookie: string; csrf: string }> {
  const page = await fetch(`${server.url}${path}`);
  const cookie = `cs_csrf=${cookieOf(page.headers.getSetCookie(), 'cs_csrf')}`;
  const csrf = /<meta name="csrf-token" content="([^"]+)"/.exec(await page.text())?.[1] ?? '';
  return { cookie, csrf };
}

/** The signed-in session's CSRF token, from the inbox page's meta tag. */
async function sessionCsrf(): Promise<string> {
  const page = await fetch(`${server.url}/`, { headers: { cookie: `cs_session=${web.cookie}` }, redirect: 'manual' });
  return /<meta name="csrf-token" content="([^"]+)"/.exec(await page.text())?.[1] ?? '';
}

/** Enrolls the owner with a software passkey through the invite link; the verify answer signs them in. */
async function enroll(): Promise<void> {
  const invite = JSON.parse(await cli(['approver', 'invite', 'owner@example.com'])) as { url: string };
  const inviteToken = invite.url.split('/enroll/')[1]!;
  const pre = await preSession(`/enroll/${inviteToken}`);
  const options = await webPost(`/enroll/${inviteToken}/options`, {}, pre.cookie, pre.csrf);
  if (options.status !== 200) throw new Error(`enrollment options: ${options.status} ${JSON.stringify(options.json)}`);
  passkey = createSoftAuthenticator({ rpId: 'localhost', origin: origin() });
  const response = passkey.register(options.json.options as never);
  const enrolled = await webPost(`/enroll/${inviteToken}/verify`, { challengeId: options.json.challengeId, response }, pre.cookie, pre.csrf);
  if (enrolled.status !== 200) throw new Error(`enrollment: ${enrolled.status} ${JSON.stringify(enrolled.json)}`);
  web.cookie = cookieOf(enrolled.setCookie, 'cs_session');
  web.csrf = await sessionCsrf();
}

/** Signs in again with the passkey when a case signed the session out (POST /signout is one of the routes). */
async function keepSignedIn(): Promise<void> {
  const page = await fetch(`${server.url}/`, { headers: { cookie: `cs_session=${web.cookie}` }, redirect: 'manual' });
  await page.text();
  if (page.status === 200) return;
  const pre = await preSession('/signin');
  const options = await webPost('/signin/options', {}, pre.cookie, pre.csrf);
  const response = passkey.assert(options.json.options as never);
  const signedIn = await webPost('/signin/verify', { challengeId: options.json.challengeId, response }, pre.cookie, pre.csrf);
  if (signedIn.status !== 200) throw new Error(`sign-in again: ${signedIn.status} ${JSON.stringify(signedIn.json)}`);
  web.cookie = cookieOf(signedIn.setCookie, 'cs_session');
  web.csrf = await sessionCsrf();
}

/** Pairs a Passport key for the owner, so /devices/:id names a real device. */
async function pairDevice(): Promise<void> {
  const { code } = JSON.parse(await cli(['device', 'pair', '--approver', 'owner@example.com'])) as { code: string };
  const { publicKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
  const paired = await webPost('/api/v1/devices/pair', { code, name: 'fuzz Passport', publicJwk: await exportJWK(publicKey) }, '', '');
  if (paired.status !== 201) throw new Error(`pairing: ${paired.status} ${JSON.stringify(paired.json)}`);
  web.deviceId = paired.json.deviceId as string;
}

const target = (): Target => ({
  port: server.port,
  origin: origin(),
  cookie: () => web.cookie,
  csrf: () => web.csrf,
  bearer: () => token,
  valid: (route, param) => {
    if (param === 'token') return web.invite;
    if (param === 'name') return web.asset;
    if (param === 'id') return route.startsWith('/devices') ? web.deviceId : web.requestId;
    return route.startsWith('/api/v1/devices') ? 'inbox' : web.requestId;
  },
});

const { mutated, rawBody } = mcpArbitraries(() => tools);

describe('issue 12 long fuzz: a real countersign start under hostile MCP and HTTP', () => {
  beforeAll(async () => {
    routes = await edgeRoutes();
    server = await startServerProcess({ config: CONFIG, startSeconds: 180 });
    cli = cliFor(server.home, { ...process.env, COUNTERSIGN_HOME: server.home, COUNTERSIGN_CONFIG: `${server.home}/countersign.yaml` });
    token = (JSON.parse(await cli(['agent', 'add', 'fuzzer', '--owner', 'owner@example.com'])) as { token: string }).token;
    await enroll();
    await pairDevice();
    web.invite = (JSON.parse(await cli(['approver', 'invite', 'new@example.com'])) as { url: string }).url.split('/enroll/')[1]!;
    session = await openSession();
    const listed = await mcpPost(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }));
    // One JSON body (a tools/list without a progress token), or an event stream's data line.
    const answer = listed.text.startsWith('{') ? listed.text : listed.text.split('\n').find((l) => l.startsWith('data:'))!.slice(5);
    tools = (JSON.parse(answer) as { result: { tools: ListedTool[] } }).result.tools;
    const pending = await mcpPost(JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'github_create_issue', arguments: { owner: 'acme', repo: 'web', title: 'fuzz' } } }));
    web.requestId = /req_[A-Za-z0-9_-]+/.exec(pending.text)?.[0] ?? 'req_missing';
    const inbox = await fetch(`${server.url}/`, { headers: { cookie: `cs_session=${web.cookie}` } });
    web.asset = /\/assets\/([^"']+)/.exec(await inbox.text())?.[1] ?? 'nope.js';
    // Memory is measured from here: the server has started, loaded its pages and served each kind of request once.
    rss.start = server.rssBytes();
    rss.peak = rss.start;
    sampler = setInterval(sample, 500);
    console.log(`fuzz --long: server pid ${server.pid} on ${server.url}; ${routes.length} routes: ${routes.join(' ')}; ${tools.length} tools; RSS at start ${MB(rss.start)}`);
  }, 300_000);

  afterAll(async () => {
    if (sampler) clearInterval(sampler);
    if (server?.alive()) sample();
    const took = (Date.now() - started) / 60_000;
    const statuses = [...tally.statuses.entries()].sort(([a], [b]) => a - b).map(([s, n]) => `${s}:${n}`).join(' ');
    const asked = count(1);
    if (tally.mcp < asked) console.log(`fuzz --long: FUZZ_MINUTES=${minutes} stopped the run before FUZZ_RUNS=${asked}: ${tally.mcp} of ${asked} /mcp messages ran`);
    console.log(
      `fuzz --long: ${tally.mcp} /mcp messages, ${tally.raw} raw /mcp bodies, ${tally.http} hostile HTTP requests, ${tally.slow} stalled clients ` +
        `in ${took.toFixed(1)} min (${((tally.mcp + tally.raw + tally.http) / (took * 60)).toFixed(0)} requests/s); statuses ${statuses}; ` +
        `closed by the server without an answer: ${tally.closedByServer}; RSS start ${MB(rss.start)}, peak ${MB(rss.peak)}, end ${MB(rss.end)} (${rss.samples} samples)`,
    );
    for (const sample of closedSamples) console.log(`fuzz --long: closed without an answer: ${sample}`);
    // What the server said went wrong (a 500 is logged with its cause), each distinct line once.
    const errors = [...new Set((server?.stderr() ?? '').split('\n').filter((l) => /failed|Error|error:/.test(l)).map((l) => l.slice(0, 400)))];
    for (const line of errors.slice(0, 30)) console.log(`fuzz --long: server log: ${line}`);
    await server?.close();
  });

  it('mutated JSON-RPC messages and tool calls to /mcp: always a JSON-RPC answer below 500', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(mutated, { minLength: BATCH, maxLength: BATCH }), async (batch) => {
        await Promise.all(
          batch.map(async (m) => {
            const body = JSON.stringify(m) ?? 'null';
            expectRpcAnswer(await mcpPost(body), body);
            tally.mcp += 1;
          }),
        );
      }),
      { ...runs(1, 1 / BATCH), ...budget(0.7) },
    );
    expect(server.alive()).toBe(true);
  }, 24 * 3600_000);

  it('raw bodies and odd headers to /mcp: always a JSON-RPC answer below 500', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(rawBody, mcpHeaders, fc.constantFrom('POST', 'POST', 'POST', 'PUT', 'PATCH', 'DELETE', 'GET')), { minLength: BATCH, maxLength: BATCH }), async (batch) => {
        let ended = false;
        await Promise.all(
          batch.map(async ([body, extra, method]) => {
            const sent = typeof body === 'string' ? body : `bytes ${Buffer.from(body).toString('hex')}`;
            const answer = await mcpPost(body, extra, method);
            tally.raw += 1;
            // DELETE on the live session ends it (200, no body, as the transport specifies): open another.
            if (method === 'DELETE' && answer.status === 200 && answer.text === '' && !('mcp-session-id' in extra)) return void (ended = true);
            expectRpcAnswer(answer, `${method} ${JSON.stringify(extra)} ${sent}`);
          }),
        );
        if (ended) session = await openSession();
      }),
      { ...runs(1, 0.1 / BATCH), ...budget(0.1) },
    );
    expect(server.alive()).toBe(true);
  }, 24 * 3600_000);

  it('hostile HTTP to every route (bad methods, path tricks, huge headers, bad encodings and content types, slow bodies): never a 5xx', async () => {
    const t = target();
    await fc.assert(
      fc.asyncProperty(fc.array(hostileCase(routes), { minLength: BATCH, maxLength: BATCH }), async (batch) => {
        await keepSignedIn();
        const results = await Promise.all(
          batch.map(async (c) => {
            const { chunks, answers, describe } = render(c, t);
            const result = await exchange(server.port, chunks, answers, 45_000);
            for (const s of result.statuses) tally.statuses.set(s, (tally.statuses.get(s) ?? 0) + 1);
            if (result.end === 'closed' && result.statuses.length === 0 && tally.closedByServer++ < 20) closedSamples.push(describe.slice(0, 600));
            tally.http += 1;
            return { result, describe };
          }),
        );
        for (const { result, describe } of results) {
          const where = `${result.end} ${JSON.stringify(result.statuses)} ${JSON.stringify(result.head)} for ${describe}\nserver ${server.alive() ? 'alive' : `exited:\n${server.stderr().slice(-3000)}`}`;
          expect(result.statuses.filter((s) => s >= 500), where).toEqual([]);
          expect(['answered', 'closed'], where).toContain(result.end);
        }
        expect(server.alive()).toBe(true);
      }),
      { ...runs(1, 0.1 / BATCH), ...budget(0.2) },
    );
  }, 24 * 3600_000);

  it('slow clients that stall in their headers or body are cut off by the timeouts while the server keeps answering', async () => {
    const stalls = Math.min(64, count(8, 0.001));
    const held = Array.from({ length: stalls }, (_, i) =>
      new Promise<string>((resolve) => {
        const socket = connect(server.port, '127.0.0.1');
        let got = '';
        socket.on('data', (d: Buffer) => (got += d.toString('latin1')));
        socket.on('error', () => {});
        socket.on('close', () => resolve(got));
        const head = `POST ${routes[i % routes.length]!.replace(/:[a-z]+|\*$/gi, 'x')} HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\nContent-Type: application/json\r\n`;
        // Half stop inside the headers, half promise a body and send a few bytes of it.
        socket.write(i % 2 ? `${head}Content-Length: 1000\r\n\r\n{"a":` : head);
      }),
    );
    for (let i = 0; i < 20; i++) {
      // Each on a new connection: a pooled one may be one the server closed while the properties above shrank.
      const health = await new Promise<number>((resolve, reject) =>
        get(`${server.url}/healthz`, { agent: false }, (res) => (res.resume(), resolve(res.statusCode ?? 0))).on('error', reject),
      );
      expect(health).toBe(200);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    const answers = await Promise.race([Promise.all(held), new Promise<null>((resolve) => setTimeout(() => resolve(null), 90_000))]);
    expect(answers, 'a stalled client was still connected 90 s later').not.toBeNull();
    // Cut off (408, or closed), or refused before the body was needed (a 4xx from the Host, origin or CSRF check).
    for (const answer of answers!) expect(answer === '' || /^HTTP\/1\.1 4\d\d/.test(answer), answer.slice(0, 200)).toBe(true);
    tally.slow += stalls;
  }, 180_000);

  it('the server is still up, serves a new MCP session and its pages, and its memory stayed flat', async () => {
    expect(server.alive()).toBe(true);
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    session = await openSession();
    const listed = await mcpPost(JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/list' }));
    expect(listed.text).toContain('github_get_repo');
    await keepSignedIn();
    expect((await fetch(`${server.url}/`, { headers: { cookie: `cs_session=${web.cookie}` } })).status).toBe(200);
    sample();
    // Flat: a leak of even a kilobyte per request would pass this many MB over 100,000 requests.
    expect(rss.end - rss.start, `RSS start ${MB(rss.start)}, peak ${MB(rss.peak)}, end ${MB(rss.end)}`).toBeLessThan(100 * 1024 * 1024);
  });
});
