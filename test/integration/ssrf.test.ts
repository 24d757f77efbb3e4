import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pushSubscriptions } from '../../approval-web/schema.ts';
import type { Resolver } from '../../net/egress.ts';
import { startStack, type Stack } from '../support/harness.ts';
import { createTestConnector } from '../support/test-connector.ts';
import { auditEntries, signedIn } from '../support/web-session.ts';
import { createSession } from '../../approval-web/sessions.ts';
import { edgeRoutes, fillRoute } from '../support/edge-routes.ts';

/** Every route the edge app registers, its parameters filled (test/support/edge-routes.ts). */
const ROUTES = (await edgeRoutes()).map((route) => fillRoute(route, 'x'));

/**
 * No server-side request goes where it should not (DESIGN section 9, invariant 12), through the whole stack: push
 * endpoints and webhooks aimed at loopback, cloud metadata or a name that rebinds to loopback are refused, audited,
 * and never connected to; one approver cannot take another's push endpoint; a webhook config marks as private is
 * reached. The local server below stands for what an attacker aims at: it must see only the allowed webhook.
 */

let stack: Stack;
let target: Server;
let port: number;
const hits: string[] = [];
let rebound = false;
let rebindCalls = 0;
let token: string;

// DNS as the attacker arranges it: push.rebind.example answers public while it is registered, loopback once rebound.
const resolve: Resolver = async (name) => {
  const table: Record<string, string> = { localhost: '127.0.0.1', 'metadata.example': '169.254.169.254', 'push.public.example': '142.250.74.110' };
  if (name === 'push.rebind.example') return rebindCalls++, [{ address: rebound ? '127.0.0.1' : '142.250.74.110', family: 4 }];
  if (table[name]) return [{ address: table[name], family: 4 }];
  throw Object.assign(new Error('not found'), { code: 'ENOTFOUND' });
};

beforeAll(async () => {
  target = createServer((req, res) => {
    hits.push(`${req.method} ${req.url}`);
    res.end('ok');
  });
  await new Promise<void>((ok) => target.listen(0, '127.0.0.1', () => ok()));
  port = (target.address() as AddressInfo).port;
  const config = [
    'notify:',
    '  webPush: true',
    '  webhooks:',
    `    - https://127.0.0.1:${port}/literal-loopback`,
    '    - https://metadata.example/latest/meta-data/',
    `    - { url: "http://127.0.0.1:${port}/private-ok", allowPrivateNetwork: true }`,
    'policy:',
    '  default: deny',
    '  rules:',
    '    - id: writes',
    '      tools: [test_write_note]',
    '      decision: approve',
  ].join('\n');
  stack = await startStack({ config, connectors: [createTestConnector()], egress: { resolve } });
  ({ token } = await stack.addAgent('origin-bot', 'ana@example.com'));
}, 60_000);
afterAll(async () => {
  await stack?.close();
  await new Promise<void>((ok) => target?.close(() => ok()));
});

const keys = { p256dh: 'BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM', auth: 'tBHItJI5svbpez7KI4CCXg' };

describe('outbound requests', () => {
  it('refuses push endpoints on loopback, metadata, private names and plain http, says why, and audits it', async () => {
    const ana = await stack.enrollApprover('ana@example.com');
    const web = await signedIn(stack, ana.id);
    for (const [endpoint, why] of [
      ['https://127.0.0.1:5432/', /127\.0\.0\.1 \(loopback\)/],
      ['https://169.254.169.254/latest/meta-data/', /169\.254\.169\.254 \(linkLocal\)/],
      ['https://localhost:5432/', /resolves to 127\.0\.0\.1 \(loopback\)/],
      ['https://[::ffff:127.0.0.1]/', /loopback/],
      ['https://metadata.example/', /169\.254\.169\.254/],
      ['http://push.public.example/', /https push endpoint/],
    ] as const) {
      const response = await web.post('/push/subscribe', { endpoint, keys });
      expect(response.status, endpoint).toBe(400);
      expect((await response.json()).error.message).toMatch(why);
    }
    const [entry] = await auditEntries(stack, 'edge.refused.egress');
    expect(entry.data).toMatchObject({ count: expect.any(Number), detail: expect.stringContaining('push endpoint') });
    expect(await stack.services.database.db.select().from(pushSubscriptions)).toEqual([]);
  });

  it('binds an endpoint to the approver who registered it: another approver is refused, not allowed to overwrite', async () => {
    const [ana, bob] = [await stack.enrollApprover('ana2@example.com'), await stack.enrollApprover('bob@example.com')];
    const endpoint = `https://push.rebind.example:${port}/sub-1`;
    expect((await (await signedIn(stack, ana.id)).post('/push/subscribe', { endpoint, keys })).status).toBe(200);
    const stolen = await (await signedIn(stack, bob.id)).post('/push/subscribe', { endpoint, keys: { ...keys, auth: 'AAAAAAAAAAAAAAAAAAAAAA' } });
    expect(stolen.status).toBe(409);
    expect((await stolen.json()).error.code).toBe('endpoint_taken');
    const [row] = await stack.services.database.db.select().from(pushSubscriptions).where(eq(pushSubscriptions.endpoint, endpoint));
    expect(row).toMatchObject({ approverId: ana.id, subscription: { keys } });
    // The owner may refresh their own keys.
    expect((await (await signedIn(stack, ana.id)).post('/push/subscribe', { endpoint, keys: { ...keys, auth: 'BBBBBBBBBBBBBBBBBBBBBB' } })).status).toBe(200);
  });

  it('at send time connects only to the allowed webhook: loopback, metadata and a rebound push name are refused and audited', async () => {
    const before = (await auditEntries(stack, 'edge.refused.egress')).length;
    const { agentId } = await stack.addAgent('notes-bot', 'ana2@example.com');
    const calls = rebindCalls;
    rebound = true;
    const pending = await stack.submit(agentId, 'test_write_note', { key: 'k', text: 'hello' });
    expect(pending.state).toBe('pending');
    const entries = await auditEntries(stack, 'edge.refused.egress', before + 1);
    for (let i = 0; i < 50 && !hits.includes('POST /private-ok'); i++) await new Promise((r) => setTimeout(r, 100));
    expect(hits).toEqual(['POST /private-ok']);
    const details = entries.slice(before).map((e) => JSON.stringify(e.data)).join('\n');
    expect(details).toMatch(/webhook|push endpoint/);
    expect(rebindCalls).toBeGreaterThan(calls);
  });
});

describe('Host and Origin checks on every route', () => {
  const send = (method: string, path: string, headers: Record<string, string>, body?: string) =>
    new Promise<{ status: number; body: string }>((ok, fail) => {
      const req = request({ host: '127.0.0.1', port: new URL(stack.listenUrl).port, path, method, headers }, (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => ok({ status: res.statusCode ?? 0, body: text }));
      });
      req.on('error', fail);
      req.end(body);
    });
  const get = (path: string, host: string) => send('GET', path, { host });

  it.each(ROUTES)('refuses %s under a foreign Host (GET and POST), before any route runs', async (path) => {
    for (const method of ['GET', 'POST']) {
      const refused = method === 'GET' ? await get(path, 'evil.example') : await send(method, path, { host: 'evil.example', 'content-type': 'application/json' }, '{}');
      expect(refused.status, `${method} ${path}`).toBe(403);
      const error = JSON.parse(refused.body).error;
      // /mcp answers in JSON-RPC ({code: -32000}); every other route with {code: "wrong_host"}.
      expect(path === '/mcp' ? error.message : error.code, `${method} ${path}`).toMatch(path === '/mcp' ? /DNS rebinding/ : /^wrong_host$/);
      if (path !== '/mcp') expect(error.message).toMatch(/DNS rebinding/);
    }
  });

  it.each(ROUTES.filter((path) => !path.startsWith('/api/v1/devices/') && !path.startsWith('/oauth/')))('refuses a cross-site POST to %s even with a session and its CSRF token', async (path) => {
    // Devices (/api/v1/devices/) are not browsers: they sign every call, so Origin is not theirs to send. The OAuth
    // endpoints (/oauth/) are called by other origins by protocol (an app's token and registration requests) and read
    // no web session; the consent they lead to is /connect/:uid, which this check covers.
    const ana = await stack.enrollApprover(`origin-${ROUTES.indexOf(path)}@example.com`);
    const { id, session } = await createSession(stack.services.database.db, ana.id);
    const host = new URL(stack.url).host;
    const headers = { host, origin: 'https://evil.example', cookie: `cs_session=${id}`, 'x-csrf-token': session.csrfToken, 'content-type': 'application/json', authorization: `Bearer ${token}` };
    const refused = await send('POST', path, headers, '{}');
    expect(refused.status, `${path}: ${refused.body.slice(0, 200)}`).toBe(403);
    // The control: the same request from the page's own origin gets past the check (whatever the route says then).
    const own = await send('POST', path, { ...headers, origin: new URL(stack.url).origin }, '{}');
    expect(own.status === 403 && /cross_origin|Origin/.test(own.body), `${path}: ${own.body.slice(0, 200)}`).toBe(false);
  });

  it('serves its own names', async () => {
    const own = new URL(stack.url).host;
    expect((await get('/healthz', own)).status).toBe(200);
    expect((await get('/healthz', `127.0.0.1:${new URL(stack.listenUrl).port}`)).status).toBe(200);
  });
});
