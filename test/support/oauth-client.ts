import type { OAuthClientProvider } from '@modelcontextprotocol/sdk/client/auth.js';
import type { OAuthClientInformationMixed, OAuthClientMetadata, OAuthTokens } from '@modelcontextprotocol/sdk/shared/auth.js';
import { createSession } from '../../approval-web/sessions.ts';
import type { Stack, TestApprover } from './harness.ts';
import type { SoftAuthenticator } from './authenticator.ts';

/**
 * The app side of an OAuth connection for tests: an OAuthClientProvider for the MCP SDK's own OAuth client
 * (@modelcontextprotocol/sdk/client/auth.js), holding what a real app would store, and a scripted browser that
 * follows the authorization URL, consents on /connect/:uid with the approver's passkey, and returns the code.
 */
export class MemoryOAuthProvider implements OAuthClientProvider {
  client: OAuthClientInformationMixed | undefined;
  saved: OAuthTokens | undefined;
  verifier = '';
  /** The authorization URL the SDK sent the "browser" to. */
  authorizationUrl: URL | null = null;

  constructor(
    readonly redirect: string,
    readonly metadataUrl?: string,
    readonly name = 'Test Connector',
  ) {}

  get redirectUrl() {
    return this.redirect;
  }
  get clientMetadataUrl() {
    return this.metadataUrl;
  }
  get clientMetadata(): OAuthClientMetadata {
    return { client_name: this.name, redirect_uris: [this.redirect], grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], token_endpoint_auth_method: 'none' };
  }
  clientInformation() {
    return this.client;
  }
  saveClientInformation(info: OAuthClientInformationMixed) {
    this.client = info;
  }
  tokens() {
    return this.saved;
  }
  saveTokens(tokens: OAuthTokens) {
    this.saved = tokens;
  }
  redirectToAuthorization(url: URL) {
    this.authorizationUrl = url;
  }
  saveCodeVerifier(verifier: string) {
    this.verifier = verifier;
  }
  codeVerifier() {
    return this.verifier;
  }
}

/**
 * A cookie jar over fetch, against the stack's listen address, never following redirects. A server in another process
 * (a replica) is a target with its public URL and the address it listens on.
 */
export class Browser {
  private cookies = new Map<string, string>();
  csrf = '';
  constructor(readonly stack: Pick<Stack, 'url' | 'listenUrl'> & { services?: Stack['services'] }) {}

  private toListen(url: string | URL): string {
    const u = new URL(String(url), this.stack.url);
    return `${this.stack.listenUrl}${u.pathname}${u.search}`;
  }

  async request(url: string | URL, init: { method?: string; body?: unknown; headers?: Record<string, string> } = {}): Promise<Response> {
    const headers: Record<string, string> = { cookie: [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; '), origin: new URL(this.stack.url).origin, ...init.headers };
    if (init.body !== undefined) Object.assign(headers, { 'content-type': 'application/json', accept: 'application/json', 'x-csrf-token': this.csrf });
    const response = await fetch(this.toListen(url), { method: init.method ?? (init.body === undefined ? 'GET' : 'POST'), headers, body: init.body === undefined ? undefined : JSON.stringify(init.body), redirect: 'manual' });
    for (const line of response.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const at = pair!.indexOf('=');
      const [name, value] = [pair!.slice(0, at).trim(), pair!.slice(at + 1).trim()];
      if (value === '' || /expires=Thu, 01 Jan 1970/i.test(line)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    return response;
  }

  /** Signs the approver in, as a passkey sign-in would leave the browser. */
  async signIn(approver: TestApprover): Promise<void> {
    if (!this.stack.services) throw new Error('signIn needs the stack in this process; use signInWithPasskey');
    const { id, session } = await createSession(this.stack.services.database.db, approver.id);
    this.cookies.set('cs_session', id);
    this.csrf = session.csrfToken;
  }

  /** Signs in over HTTP as a person does: the sign-in page's CSRF token, a discoverable-passkey assertion, the session. */
  async signInWithPasskey(passkey: SoftAuthenticator): Promise<void> {
    const csrfOf = async (path: string) => /<meta name="csrf-token" content="([^"]+)"/.exec(await (await this.request(path)).text())?.[1] ?? '';
    this.csrf = await csrfOf('/signin');
    const options = (await (await this.request('/signin/options', { body: {} })).json()) as { challengeId: string; options: { challenge: string; rpId?: string } };
    const response = passkey.assert({ challenge: options.options.challenge, rpId: new URL(this.stack.url).hostname });
    const done = await this.request('/signin/verify', { body: { challengeId: options.challengeId, response } });
    if (!done.ok) throw new Error(`sign-in answered ${done.status}: ${await done.text()}`);
    this.csrf = await csrfOf('/');
  }

  /** Follows the authorization URL to the consent page; returns the consent path (/connect/:uid). */
  async startAuthorization(url: URL): Promise<string> {
    const response = await this.request(url);
    const location = response.headers.get('location');
    if (response.status !== 303 || !location) throw new Error(`authorization answered ${response.status}: ${await response.text()}`);
    return new URL(location, this.stack.url).pathname;
  }

  /**
   * Connects with a fresh passkey assertion as `agent` (a new agent, or with `existing` one the approver has); returns
   * where the authorization server sent the browser.
   */
  async consent(path: string, approver: Pick<TestApprover, 'authenticator'>, agent: string, existing = false): Promise<URL> {
    const options = await this.request(`${path}/options`, { body: { agent, existing } });
    if (!options.ok) throw new Error(`consent options answered ${options.status}: ${await options.text()}`);
    const { challengeId, options: o } = (await options.json()) as { challengeId: string; options: { challenge: string; allowCredentials?: { id: string; type: "public-key" }[] } };
    const response = approver.authenticator.assert({ challenge: o.challenge, rpId: 'localhost', allowCredentials: o.allowCredentials });
    const done = await this.request(path, { body: { challengeId, response, agent, existing } });
    if (!done.ok) throw new Error(`consent answered ${done.status}: ${await done.text()}`);
    const { redirect } = (await done.json()) as { redirect: string };
    const back = await this.request(redirect);
    const location = back.headers.get('location');
    if (!location) throw new Error(`resuming the authorization answered ${back.status}: ${await back.text()}`);
    return new URL(location, this.stack.url);
  }
}
