import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auth } from '@modelcontextprotocol/sdk/client/auth.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { startStack, type Stack, type TestApprover } from '../support/harness.ts';
import { createTestConnector } from '../support/test-connector.ts';
import { Browser, MemoryOAuthProvider } from '../support/oauth-client.ts';
import { INITIALIZE, rawPost } from '../support/mcp-client.ts';
import { auditEntries } from '../support/web-session.ts';
import { agentList, agentRevoke } from '../../gateway/commands/agent.ts';

/**
 * The built-in OAuth 2.1 authorization server (gateway/oauth/) against the MCP SDK's own OAuth client: discovery from
 * a 401, registration and Client ID Metadata Documents, PKCE, consent with a passkey, tools called with the token,
 * refresh, disconnect; and the refusals a hostile client or page tries.
 */

let stack: Stack;
let approver: TestApprover;
const REDIRECT = 'http://localhost:9/callback';
const fetched: string[] = [];
const CIMD_URL = 'https://app.example/oauth/client.json';
const documents: Record<string, () => string> = {
  [CIMD_URL]: () => JSON.stringify({ client_id: CIMD_URL, client_name: 'Example App', redirect_uris: ['https://app.example/callback'], token_endpoint_auth_method: 'none', grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'] }),
  'https://big.example/client.json': () => JSON.stringify({ client_id: 'https://big.example/client.json', client_name: 'x'.repeat(6000), redirect_uris: ['https://big.example/cb'], token_endpoint_auth_method: 'none' }),
};

beforeAll(async () => {
  const table: Record<string, string> = { 'app.example': '93.184.216.34', 'big.example': '93.184.216.35', 'private.example': '10.0.0.7' };
  stack = await startStack({
    config: 'policy:\n  default: allow\n',
    connectors: [createTestConnector()],
    egress: {
      resolve: async (name) => (table[name] ? [{ address: table[name]!, family: 4 }] : Promise.reject(Object.assign(new Error('nx'), { code: 'ENOTFOUND' }))),
      fetch: async (url) => {
        fetched.push(url);
        const body = documents[url];
        return body ? new Response(body(), { headers: { 'content-type': 'application/json' } }) : new Response('not found', { status: 404 });
      },
    },
  });
  approver = await stack.enrollApprover('jane@example.com');
}, 120_000);
afterAll(async () => {
  await stack?.close();
});

const mcpUrl = () => new URL(`${stack.url}/mcp`);

/** Runs the whole authorization as an app would: 401, discovery, registration, consent, code exchange. */
async function connect(provider: MemoryOAuthProvider, agent: string, browser = new Browser(stack), existing = false): Promise<Client> {
  await browser.signIn(approver);
  const first = new StreamableHTTPClientTransport(mcpUrl(), { authProvider: provider });
  await expect(new Client({ name: 'oauth-test', version: '1.0.0' }).connect(first)).rejects.toThrow(/Unauthorized/);
  const consentPath = await browser.startAuthorization(provider.authorizationUrl!);
  const back = await browser.consent(consentPath, approver, agent, existing);
  expect(back.origin + back.pathname).toBe(provider.redirect);
  expect(back.searchParams.get('iss')).toBe(stack.url); // RFC 9207
  await first.finishAuth(back.searchParams.get('code')!);
  const connected = new Client({ name: 'oauth-test', version: '1.0.0' });
  await connected.connect(new StreamableHTTPClientTransport(mcpUrl(), { authProvider: provider }));
  return connected;
}

const pkce = () => {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
};

async function register(redirect = REDIRECT): Promise<string> {
  const response = await fetch(`${stack.listenUrl}/oauth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ client_name: 'Raw Client', redirect_uris: [redirect], token_endpoint_auth_method: 'none', grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'] }),
  });
  expect(response.status).toBe(201);
  return ((await response.json()) as { client_id: string }).client_id;
}

const authorizeUrl = (params: Record<string, string>) => new URL(`${stack.url}/oauth/authorize?${new URLSearchParams({ response_type: 'code', scope: 'mcp', state: 's1', ...params })}`);

/** Registers, authorizes and consents by hand; returns the code and what it was bound to. */
async function codeFor(agent: string) {
  const clientId = await register();
  const { verifier, challenge } = pkce();
  const browser = new Browser(stack);
  await browser.signIn(approver);
  const path = await browser.startAuthorization(authorizeUrl({ client_id: clientId, redirect_uri: REDIRECT, code_challenge: challenge, code_challenge_method: 'S256', resource: `${stack.url}/mcp` }));
  const back = await browser.consent(path, approver, agent);
  return { clientId, verifier, code: back.searchParams.get('code')! };
}

const token = (params: Record<string, string>) =>
  fetch(`${stack.listenUrl}/oauth/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(params) });

const exchange = (c: { clientId: string; verifier: string; code: string }, extra: Record<string, string> = {}) =>
  token({ grant_type: 'authorization_code', code: c.code, client_id: c.clientId, redirect_uri: REDIRECT, code_verifier: c.verifier, ...extra });

const initialize = (bearer: string) => rawPost(stack.url, INITIALIZE, { authorization: `Bearer ${bearer}` });

describe('built-in authorization server', () => {
  it('serves RFC 8414 metadata and points the protected-resource metadata at it', async () => {
    const prm = await (await fetch(`${stack.listenUrl}/.well-known/oauth-protected-resource`)).json();
    expect(prm.authorization_servers).toEqual([stack.url]);
    expect(prm.resource).toBe(`${stack.url}/mcp`);
    const as = await (await fetch(`${stack.listenUrl}/.well-known/oauth-authorization-server`)).json();
    expect(as.issuer).toBe(stack.url);
    expect(as.code_challenge_methods_supported).toEqual(['S256']);
    expect(as.authorization_response_iss_parameter_supported).toBe(true);
    expect(as.client_id_metadata_document_supported).toBe(true);
    expect(as.registration_endpoint).toBe(`${stack.url}/oauth/register`);
  });

  it('connects the SDK client by dynamic registration as a new agent the person owns, calls a tool, and refreshes', async () => {
    const provider = new MemoryOAuthProvider(REDIRECT);
    const client = await connect(provider, 'dcr-agent');
    expect((await client.listTools()).tools.length).toBeGreaterThan(0);
    await client.close();
    const agents = (await stack.port.send('kernel', { op: 'agent.list' })) as { name: string; owner: string }[];
    expect(agents.find((a) => a.name === 'dcr-agent')?.owner).toBe('jane@example.com');
    const added = (await auditEntries(stack, 'agent.added')).find((e) => (e.data as { name: string }).name === 'dcr-agent');
    expect(added?.actor).toBe(`web:approver:${approver.id}`);
    // Refresh with the SDK: a new access token that works, and the refresh token rotated.
    const before = provider.saved!;
    expect(await auth(provider, { serverUrl: mcpUrl() })).toBe('AUTHORIZED');
    expect(provider.saved!.access_token).not.toBe(before.access_token);
    expect(provider.saved!.refresh_token).not.toBe(before.refresh_token);
    expect((await initialize(provider.saved!.access_token)).status).toBe(200);
  });

  it('connects with a Client ID Metadata Document fetched through the egress rules, and a second connection from the same browser', async () => {
    const browser = new Browser(stack);
    await (await connect(new MemoryOAuthProvider('https://app.example/callback', CIMD_URL), 'cimd-agent', browser)).close();
    expect(fetched).toContain(CIMD_URL);
    await (await connect(new MemoryOAuthProvider(REDIRECT), 'second-agent', browser)).close();
  });

  it('connects two apps as an agent the person already owns, lists the live ones in `agent list`, and `agent revoke` cuts both', async () => {
    await stack.addAgent('janes-bot', 'jane@example.com');
    await stack.addAgent('bearer-only', 'jane@example.com');
    const first = new MemoryOAuthProvider(REDIRECT, undefined, 'Shared\u202Eppa');
    await (await connect(first, 'janes-bot', new Browser(stack), true)).close();
    const second = new MemoryOAuthProvider(REDIRECT, undefined, 'Second App');
    await (await connect(second, 'janes-bot', new Browser(stack), true)).close();
    const firstId = (first.client as { client_id: string }).client_id;
    await stack.services.audit.sync(); // both connections' entries in the tree, not only the first batch's
    const connected = (await auditEntries(stack, 'agent.connected')).filter((e) => (e.data as { name: string }).name === 'janes-bot');
    expect(connected.map((e) => e.actor)).toEqual([`web:approver:${approver.id}`, `web:approver:${approver.id}`]);
    expect((connected[0]!.data as { client: string }).client).toBe(firstId);
    expect((await initialize(first.saved!.access_token)).status).toBe(200);

    type Listed = { agents: { name: string; connection: { lastUsedAt: string | null; apps: { clientName: string }[] } | null }[] };
    const list = async () => (JSON.parse((await agentList(stack.services, { json: true })).stdout) as Listed).agents;
    const row = (await list()).find((a) => a.name === 'janes-bot');
    expect(row?.connection?.apps.map((a) => a.clientName)).toEqual(['Shared\u202Eppa', 'Second App']);
    expect(row?.connection?.lastUsedAt).not.toBeNull();
    expect((await list()).find((a) => a.name === 'bearer-only')).toMatchObject({ connection: null });
    const text = (await agentList(stack.services)).stdout;
    expect(text).toMatch(/OAuth connection: app "Shared⟨U\+202E⟩ppa" \(! .+\), returns to localhost, connected 20/);
    expect(text).toContain('OAuth connection: app "Second App", returns to localhost');
    expect(text).not.toContain('\u202E');

    // A replayed refresh token revokes the first app's grant family: the list shows only the app still connected.
    const rotated = await token({ grant_type: 'refresh_token', refresh_token: first.saved!.refresh_token!, client_id: firstId });
    expect(rotated.status).toBe(200);
    expect((await (await token({ grant_type: 'refresh_token', refresh_token: first.saved!.refresh_token!, client_id: firstId })).json()).error).toBe('invalid_grant');
    expect((await list()).find((a) => a.name === 'janes-bot')?.connection?.apps.map((a) => a.clientName)).toEqual(['Second App']);

    const revoked = JSON.parse((await agentRevoke(stack.services, { name: 'janes-bot', json: true })).stdout) as { oauthTokensRevoked: number };
    expect(revoked.oauthTokensRevoked).toBeGreaterThan(0);
    expect((await initialize(second.saved!.access_token)).status).toBe(401);
    const refresh = await token({ grant_type: 'refresh_token', refresh_token: second.saved!.refresh_token!, client_id: (second.client as { client_id: string }).client_id });
    expect((await refresh.json()).error).toBe('invalid_grant');
    expect((await list()).find((a) => a.name === 'janes-bot')?.connection?.apps).toEqual([]);
  });

  it("refuses to connect as someone else's agent, which the page does not offer either", async () => {
    await stack.addAgent('bobs-bot', 'bob@example.com');
    const clientId = await register();
    const browser = new Browser(stack);
    await browser.signIn(approver);
    const path = await browser.startAuthorization(authorizeUrl({ client_id: clientId, redirect_uri: REDIRECT, code_challenge: pkce().challenge, code_challenge_method: 'S256' }));
    const page = await (await browser.request(path)).text();
    expect(page).toContain('An agent you already have');
    expect(page).not.toContain('bobs-bot');
    const refused = await browser.consent(path, approver, 'bobs-bot', true).catch((error: Error) => error.message);
    expect(refused).toMatch(/^consent answered 403: .*not_your_agent/);
    const agents = (await stack.port.send('kernel', { op: 'agent.list' })) as { name: string; owner: string }[];
    expect(agents.filter((a) => a.name === 'bobs-bot').map((a) => a.owner)).toEqual(['bob@example.com']);
    expect((await auditEntries(stack, 'agent.connected')).some((e) => (e.data as { name: string }).name === 'bobs-bot')).toBe(false);
  });

  it('disconnects: the agent is revoked, its tokens deleted, and the next call is 401 with WWW-Authenticate', async () => {
    const provider = new MemoryOAuthProvider(REDIRECT);
    await (await connect(provider, 'gone-soon')).close();
    const browser = new Browser(stack);
    await browser.signIn(approver);
    const people = await (await browser.request('/audit/people')).text();
    expect(people).toContain('Disconnect');
    expect(people).toContain('Test Connector');
    const options = (await (await browser.request('/audit/people/options', { body: { action: 'revoke', target: 'gone-soon' } })).json()) as { challengeId: string; options: { challenge: string } };
    const response = approver.authenticator.assert({ challenge: options.options.challenge, rpId: 'localhost' });
    const done = await browser.request('/audit/people/confirm', { body: { challengeId: options.challengeId, action: 'revoke', target: 'gone-soon', response } });
    expect(done.status).toBe(200);
    const refused = await initialize(provider.saved!.access_token);
    expect(refused.status).toBe(401);
    expect(refused.headers.get('www-authenticate')).toContain('resource_metadata=');
    expect((await token({ grant_type: 'refresh_token', refresh_token: provider.saved!.refresh_token!, client_id: (provider.client as { client_id: string }).client_id })).status).toBe(400);
  });
});

describe('refusals', () => {
  it('refuses a wrong or missing PKCE verifier, and an authorization request without S256', async () => {
    const c = await codeFor('pkce-agent');
    expect((await (await exchange(c, { code_verifier: pkce().verifier })).json()).error).toBe('invalid_grant');
    const c2 = await codeFor('pkce-agent2');
    const missing = await token({ grant_type: 'authorization_code', code: c2.code, client_id: c2.clientId, redirect_uri: REDIRECT });
    expect(missing.status).toBe(400);
    const clientId = await register();
    for (const params of [{}, { code_challenge: pkce().challenge, code_challenge_method: 'plain' }] as Record<string, string>[]) {
      const response = await fetch(authorizeUrl({ client_id: clientId, redirect_uri: REDIRECT, ...params }), { redirect: 'manual' });
      const location = new URL(response.headers.get('location')!);
      expect(location.origin + location.pathname).toBe(REDIRECT);
      expect(location.searchParams.get('error')).toBe('invalid_request');
    }
  });

  it('refuses a code used twice and revokes what the first use issued', async () => {
    const c = await codeFor('reuse-agent');
    const first = (await (await exchange(c)).json()) as { access_token: string };
    expect((await initialize(first.access_token)).status).toBe(200);
    expect((await (await exchange(c)).json()).error).toBe('invalid_grant');
    expect((await initialize(first.access_token)).status).toBe(401);
  });

  it('refuses a redirect URI that was not registered, at the authorization and the token endpoint', async () => {
    const clientId = await register();
    const response = await fetch(authorizeUrl({ client_id: clientId, redirect_uri: 'https://evil.example/cb', code_challenge: pkce().challenge, code_challenge_method: 'S256' }), { redirect: 'manual' });
    expect(response.status).toBe(400); // never redirected to the unregistered address
    expect(await response.text()).toMatch(/redirect_uri/);
    const c = await codeFor('redirect-agent');
    expect((await (await exchange(c, { redirect_uri: 'http://localhost:9/other' })).json()).error).toBe('invalid_grant');
  });

  it('refuses a token for another resource', async () => {
    const clientId = await register();
    const response = await fetch(authorizeUrl({ client_id: clientId, redirect_uri: REDIRECT, code_challenge: pkce().challenge, code_challenge_method: 'S256', resource: 'https://other.example/mcp' }), { redirect: 'manual' });
    expect(new URL(response.headers.get('location')!).searchParams.get('error')).toBe('invalid_target');
    const c = await codeFor('resource-agent');
    expect((await (await exchange(c, { resource: 'https://other.example/mcp' })).json()).error).toBe('invalid_target');
  });

  it('revokes the whole family when a rotated refresh token is replayed', async () => {
    const c = await codeFor('replay-agent');
    const first = (await (await exchange(c)).json()) as { access_token: string; refresh_token: string };
    const second = (await (await token({ grant_type: 'refresh_token', refresh_token: first.refresh_token, client_id: c.clientId })).json()) as { access_token: string; refresh_token: string };
    expect(second.refresh_token).toBeTruthy();
    expect((await initialize(second.access_token)).status).toBe(200);
    const replay = await token({ grant_type: 'refresh_token', refresh_token: first.refresh_token, client_id: c.clientId });
    expect((await replay.json()).error).toBe('invalid_grant');
    expect((await initialize(second.access_token)).status).toBe(401);
    expect((await initialize(first.access_token)).status).toBe(401);
    expect((await (await token({ grant_type: 'refresh_token', refresh_token: second.refresh_token, client_id: c.clientId })).json()).error).toBe('invalid_grant');
  });

  it('refuses a Client ID Metadata Document on a private address, and one that is too large', async () => {
    for (const clientId of ['https://private.example/client.json', 'https://big.example/client.json']) {
      const before = fetched.length;
      const response = await fetch(authorizeUrl({ client_id: clientId, redirect_uri: 'https://big.example/cb', code_challenge: pkce().challenge, code_challenge_method: 'S256' }), { redirect: 'manual' });
      expect(response.status, clientId).toBe(400);
      expect(await response.text()).toMatch(/invalid_client/);
      if (clientId.includes('private')) expect(fetched.length).toBe(before); // never connected
    }
  });

  it('refuses a consent without the CSRF token, and one from another browser', async () => {
    const clientId = await register();
    const browser = new Browser(stack);
    await browser.signIn(approver);
    const path = await browser.startAuthorization(authorizeUrl({ client_id: clientId, redirect_uri: REDIRECT, code_challenge: pkce().challenge, code_challenge_method: 'S256' }));
    const page = await browser.request(path);
    expect(await page.text()).toContain('Raw Client');
    const csrf = browser.csrf;
    browser.csrf = 'forged';
    const forged = await browser.request(`${path}/options`, { body: { agent: 'csrf-agent' } });
    expect(forged.status).toBe(403);
    expect((await forged.json()).error.code).toBe('csrf_token');
    browser.csrf = csrf;
    // Someone else's browser, signed in, without this browser's interaction cookie: nothing is open there.
    const other = new Browser(stack);
    await other.signIn(approver);
    expect((await other.request(path)).status).toBe(410);
  });

  it('refuses an agent bearer token at the authorization endpoint', async () => {
    const { token: agentToken } = await stack.addAgent('bearer-agent', 'jane@example.com');
    const clientId = await register();
    const response = await fetch(authorizeUrl({ client_id: clientId, redirect_uri: REDIRECT, code_challenge: pkce().challenge, code_challenge_method: 'S256' }), {
      redirect: 'manual',
      headers: { authorization: `Bearer ${agentToken}` },
    });
    expect(response.status).toBe(400);
    expect(response.headers.get('location')).toBeNull();
    expect((await response.json()).error).toBe('invalid_request');
    // And agent tokens keep working at /mcp beside OAuth.
    expect((await initialize(agentToken)).status).toBe(200);
  });
});
