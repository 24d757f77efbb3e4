import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { JsonObject, RequestView } from '../../kernel/index.ts';
import { axeViolations, launchBrowser, PHONE, screenshot } from '../support/browser.ts';
import { startStack, type Stack } from '../support/harness.ts';
import { createTestConnector, type TestConnector } from '../support/test-connector.ts';
import { MemoryOAuthProvider } from '../support/oauth-client.ts';
import { INITIALIZE, rawPost } from '../support/mcp-client.ts';
import { enrollInBrowser, type BrowserApprover } from './approve-support.ts';

/**
 * Connecting an app (claude.ai, ChatGPT) through the built-in authorization server, as a person does it on a phone:
 * the MCP SDK's own OAuth client starts the authorization, the person signs in with a passkey on the consent page
 * (390x844, a CDP virtual authenticator), sees which app asks (its self-chosen name and its addresses through display
 * hygiene), approves as a new agent or as one they already own, or denies; the app's MCP calls then work, and
 * Disconnect on the Agents page stops its token at once. Screenshots, light and dark, in test-output/screenshots/.
 */

/** A Client ID Metadata Document on a look-alike host: "аpp.example" with a Cyrillic "а", which is xn--pp-6kc.example. */
const IDN_HOST = 'xn--pp-6kc.example';
const CIMD_URL = `https://${IDN_HOST}/oauth/client.json`;
const cimd = () => ({ client_id: CIMD_URL, client_name: 'Claude', redirect_uris: [CIMD_REDIRECT], token_endpoint_auth_method: 'none', grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'] });
/** A client name with a right-to-left override: it must be shown as a visible escape and flagged, never obeyed. */
const SPOOFED_NAME = 'Notes \u202Eppa';

let stack: Stack;
let connector: TestConnector;
let browser: Browser;
let jane: BrowserApprover;
let page: Page;
/** Where the apps live: a loopback page the browser lands on with the code (or the error), as it would on claude.ai. */
let app: Server;
let APP = '';
let REDIRECT = '';
let CIMD_REDIRECT = '';

beforeAll(async () => {
  app = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>Back in the app</title><p>Back in the app.</p>'));
  await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
  APP = `http://localhost:${(app.address() as AddressInfo).port}`;
  [REDIRECT, CIMD_REDIRECT] = [`${APP}/callback`, `${APP}/claude/callback`];
  connector = createTestConnector();
  stack = await startStack({
    config: 'policy:\n  default: allow\n',
    connectors: [connector],
    egress: {
      resolve: async (name) => (name === IDN_HOST ? [{ address: '93.184.216.34', family: 4 }] : Promise.reject(Object.assign(new Error('nx'), { code: 'ENOTFOUND' }))),
      fetch: async (url) => (url === CIMD_URL ? new Response(JSON.stringify(cimd()), { headers: { 'content-type': 'application/json' } }) : new Response('not found', { status: 404 })),
    },
  });
  browser = await launchBrowser();
  jane = await enrollInBrowser(browser, stack, 'jane@example.com');
  page = jane.page;
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await stack?.close();
  app?.close();
});

const mcpUrl = () => new URL(`${stack.url}/mcp`);

/** The app's first call: 401, discovery, registration or its metadata document, PKCE; returns the authorization URL. */
async function startConnecting(provider: MemoryOAuthProvider): Promise<StreamableHTTPClientTransport> {
  const transport = new StreamableHTTPClientTransport(mcpUrl(), { authProvider: provider });
  await expect(new Client({ name: 'e2e-app', version: '1.0.0' }).connect(transport)).rejects.toThrow(/Unauthorized/);
  expect(provider.authorizationUrl).not.toBeNull();
  return transport;
}

/** The browser follows the authorization URL to the consent page. */
async function openConsent(provider: MemoryOAuthProvider): Promise<void> {
  await page.goto(provider.authorizationUrl!.href);
  await page.waitForURL(/\/connect\/[A-Za-z0-9_-]+$/);
}

/** Waits for the browser to land back in the app; returns that address. */
async function backInTheApp(origin: string): Promise<URL> {
  await page.waitForURL((url) => url.href.startsWith(origin), { timeout: 30_000 });
  return new URL(page.url());
}

/** Finishes the app's side with the code and connects for real. */
async function finish(transport: StreamableHTTPClientTransport, provider: MemoryOAuthProvider, back: URL): Promise<Client> {
  expect(back.searchParams.get('iss')).toBe(stack.url);
  await transport.finishAuth(back.searchParams.get('code')!);
  const client = new Client({ name: 'e2e-app', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(mcpUrl(), { authProvider: provider }));
  return client;
}

/** Calls the read tool and returns the agent the kernel recorded the request for. */
async function readAs(client: Client): Promise<string> {
  const before = connector.executions.length;
  const result = await client.callTool({ name: 'test_read_note', arguments: { key: 'welcome' } });
  expect(result.isError ?? false).toBe(false);
  expect(JSON.stringify(result.structuredContent)).toContain('hello from the test connector');
  const { requestId } = connector.executions[before]!;
  const request = await stack.port.send<RequestView & JsonObject>('kernel', { op: 'request.get', requestId });
  return request.body.principal.agentName;
}

/** Nothing on the page is wider than the phone. */
const fitsWidth = async () => expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(PHONE.width);

/** The button lies wholly inside the first screen at 390x844, the page not scrolled: the answer is in thumb reach. */
async function inFirstScreen(selector: string): Promise<void> {
  await page.evaluate(() => window.scrollTo(0, 0));
  const box = await page.locator(selector).boundingBox();
  expect(box, selector).not.toBeNull();
  expect(box!.y).toBeGreaterThanOrEqual(0);
  expect(box!.y + box!.height).toBeLessThanOrEqual(PHONE.height);
}

/** Light and dark screenshots of the page as it is now. */
async function shoot(name: string): Promise<void> {
  const path = await screenshot(page, `${name}-390x844`);
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: path.replace(/\.png$/, '-first-screen.png') });
  await page.emulateMedia({ colorScheme: 'dark' });
  await screenshot(page, `${name}-390x844-dark`);
  await page.emulateMedia({ colorScheme: 'light' });
}

describe('connecting an app from a phone', () => {
  it('signs in with a passkey on the consent page, shows who asks through hygiene, approves as a new agent, and the app calls tools', async () => {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(`${stack.url}/signin`);
    const provider = new MemoryOAuthProvider(REDIRECT, undefined, SPOOFED_NAME);
    const transport = await startConnecting(provider);
    await openConsent(provider);

    // Signed out: who asks is already on screen; the only ways on are the passkey and Deny.
    const name = page.locator('#client-name');
    await expect(name.textContent()).resolves.toContain('Notes ⟨U+202E⟩ppa');
    expect(await name.locator('[data-flag]').count()).toBeGreaterThan(0);
    await expect(page.locator('#redirect-host').textContent()).resolves.toContain('localhost');
    await expect(page.locator('#can-do').textContent()).resolves.toContain('never approve');
    await fitsWidth();
    await inFirstScreen('#sign-in');
    await inFirstScreen('#deny');
    await shoot('oauth-consent-signed-out');

    await page.getByRole('button', { name: 'Sign in with passkey' }).click();
    await page.waitForSelector('#connect-form');
    expect(new URL(page.url()).pathname).toMatch(/^\/connect\//); // back on the same consent page, signed in
    await expect(page.locator('#connect-form').textContent()).resolves.toContain('jane@example.com');
    const suggested = await page.locator('#agent-name').inputValue();
    expect(suggested).toMatch(/^notes-ppa-[0-9a-f]{4}$/);
    expect(await page.locator('#existing-agent').count()).toBe(0); // Jane has no agent yet: nothing to choose from
    expect(await axeViolations(page)).toEqual([]);
    await fitsWidth();
    await inFirstScreen('#connect');
    await shoot('oauth-consent-new-agent');

    await page.locator('#agent-name').fill('phone-notes');
    await page.getByRole('button', { name: 'Connect with passkey' }).click();
    const client = await finish(transport, provider, await backInTheApp(REDIRECT));
    expect(await readAs(client)).toBe('phone-notes');
    await client.close();
    const agents = await stack.port.send<JsonObject[]>('kernel', { op: 'agent.list' });
    expect(agents.find((a) => a.name === 'phone-notes')?.owner).toBe('jane@example.com');
  });

  it('connects a second app, identified by a metadata document on a look-alike host, as an agent Jane already owns', async () => {
    const provider = new MemoryOAuthProvider(CIMD_REDIRECT, CIMD_URL, 'Claude');
    const transport = await startConnecting(provider);
    await openConsent(provider);
    await page.waitForSelector('#connect-form'); // still signed in: no second sign-in
    // The host is shown as the connection sees it (punycode), and "Claude" is labelled as the app's own name for itself.
    await expect(page.locator('#client-id').textContent()).resolves.toContain(IDN_HOST);
    await expect(page.locator('#client-id').textContent()).resolves.toContain('punycode');
    await expect(page.locator('dt').first().textContent()).resolves.toContain('its own name for itself');
    await expect(page.locator('#existing-agent option').allTextContents()).resolves.toEqual(['phone-notes']);
    await expect(page.locator('#existing-note').textContent()).resolves.toContain('revokes the whole agent');
    await page.locator('#existing-agent').selectOption('phone-notes');
    await expect(page.locator('input[name="becomes"][value="existing"]').isChecked()).resolves.toBe(true);
    expect(await axeViolations(page)).toEqual([]);
    await fitsWidth();
    await inFirstScreen('#connect');
    await shoot('oauth-consent-existing-agent');

    await page.getByRole('button', { name: 'Connect with passkey' }).click();
    const client = await finish(transport, provider, await backInTheApp(CIMD_REDIRECT));
    expect(await readAs(client)).toBe('phone-notes');
    await client.close();
    const agents = await stack.port.send<JsonObject[]>('kernel', { op: 'agent.list' });
    expect(agents.filter((a) => a.owner === 'jane@example.com').map((a) => a.name)).toEqual(['phone-notes']); // no new agent
  });

  it('denies: the app hears access_denied and gets no token', async () => {
    const provider = new MemoryOAuthProvider(REDIRECT, undefined, 'Unwanted App');
    await startConnecting(provider);
    await openConsent(provider);
    await page.getByRole('button', { name: 'Deny' }).click();
    const back = await backInTheApp(REDIRECT);
    expect(back.searchParams.get('error')).toBe('access_denied');
    expect(back.searchParams.get('code')).toBeNull();
    expect(back.searchParams.get('iss')).toBe(stack.url);
    expect(provider.saved).toBeUndefined();
  });

  it('Disconnect on the Agents page stops the connection at once', async () => {
    const provider = new MemoryOAuthProvider(REDIRECT, undefined, 'Short Lived');
    const transport = await startConnecting(provider);
    await openConsent(provider);
    await page.locator('#agent-name').fill('short-lived');
    await page.getByRole('button', { name: 'Connect with passkey' }).click();
    const client = await finish(transport, provider, await backInTheApp(REDIRECT));
    expect(await readAs(client)).toBe('short-lived');

    await page.goto(`${stack.url}/audit/people`);
    // Two apps act as phone-notes (the second chose it at consent): both are listed under it.
    await expect(page.locator('#agents li[data-agent="phone-notes"] .app').allTextContents()).resolves.toEqual([
      expect.stringContaining('Notes ⟨U+202E⟩ppa'),
      expect.stringContaining('Claude'),
    ]);
    const item = page.locator('#agents li[data-agent="short-lived"]');
    await expect(item.textContent()).resolves.toContain('Connected app: Short Lived');
    await fitsWidth();
    await shoot('oauth-agents-connected');
    await item.getByRole('button', { name: 'Disconnect short-lived' }).click();
    await page.waitForFunction(() => /Disconnected short-lived/.test(document.getElementById('status')?.textContent ?? ''));

    // The very next call is refused: 401 with where to start again, and the SDK cannot refresh its way back in.
    const refused = await rawPost(stack.url, INITIALIZE, { authorization: `Bearer ${provider.saved!.access_token}` });
    expect(refused.status).toBe(401);
    expect(refused.headers.get('www-authenticate')).toContain('resource_metadata=');
    await expect(client.callTool({ name: 'test_read_note', arguments: { key: 'welcome' } })).rejects.toThrow();
    await client.close();
    await page.waitForSelector('#agents li[data-agent="short-lived"] .revoked');
    await expect(item.textContent()).resolves.toContain('Disconnected');
    await shoot('oauth-agents-disconnected');
  });
});
