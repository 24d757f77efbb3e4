import { describe, expect, it } from 'vitest';
import { createRouter, KernelError, type Db } from '../../kernel/index.ts';
import { APPROVAL_WEB_CAPABILITIES, approverInvite, createApprovalWeb } from '../../approval-web/index.ts';

// Pages and refusals that never reach the database: a Db that throws proves it.
const noDb = new Proxy({}, { get: () => { throw new Error('this test must not touch the database'); } }) as unknown as Db;

function app(publicUrl = 'http://localhost:8787') {
  const router = createRouter(async () => {});
  router.register('kernel', async () => { throw new KernelError('internal', 'no kernel in this test'); }, []);
  return createApprovalWeb({ port: router.register('web', async () => null, APPROVAL_WEB_CAPABILITIES), db: noDb, publicUrl, sandbox: true });
}

const web = app();

describe('web security headers', () => {
  it('sends a strict CSP with a fresh nonce that only the page script carries, and no inline script', async () => {
    const first = await web.request('/signin');
    const second = await web.request('/signin');
    const csp = first.headers.get('content-security-policy')!;
    const nonce = /'nonce-([^']+)'/.exec(csp)![1];
    expect(csp).toBe(
      `default-src 'none'; script-src 'nonce-${nonce}' 'strict-dynamic'; style-src 'self' 'nonce-${nonce}'; img-src 'self' data:; ` +
        "connect-src 'self'; worker-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    );
    expect(second.headers.get('content-security-policy')).not.toContain(nonce);
    const html = await first.text();
    const scripts = [...html.matchAll(/<script([^>]*)>([\s\S]*?)<\/script>/g)];
    expect(scripts).toHaveLength(1);
    expect(scripts[0][1]).toContain(`nonce="${nonce}"`);
    expect(scripts[0][1]).toMatch(/src="\/assets\/signin\.[0-9a-f]{12}\.js"/);
    expect(scripts[0][2]).toBe('');
    expect(html).not.toMatch(/\son[a-z]+=/i); // no inline event handlers either
    expect(first.headers.get('x-content-type-options')).toBe('nosniff');
    expect(first.headers.get('referrer-policy')).toBe('no-referrer');
    expect(first.headers.get('x-frame-options')).toBe('DENY');
    expect(first.headers.get('strict-transport-security')).toBeNull();
    expect(html).toContain('SANDBOX');
  });

  it('adds HSTS and __Host- cookies when the public URL is https', async () => {
    const secure = app('https://cs.example.com');
    const response = await secure.request('https://cs.example.com/signin');
    expect(response.headers.get('strict-transport-security')).toContain('max-age=');
    const cookie = response.headers.get('set-cookie')!;
    expect(cookie).toMatch(/^__Host-cs_csrf=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; Secure; SameSite=Strict$/);
  });

  it('uses a plain HttpOnly SameSite=Strict cookie on http://localhost', async () => {
    const cookie = (await web.request('/signin')).headers.get('set-cookie')!;
    expect(cookie).toMatch(/^cs_csrf=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict$/);
  });

  it('serves bundled assets by content hash, cacheable forever', async () => {
    const html = await (await web.request('/signin')).text();
    const src = /src="(\/assets\/signin\.[0-9a-f]{12}\.js)"/.exec(html)![1];
    const asset = await web.request(src);
    expect(asset.status).toBe(200);
    expect(asset.headers.get('content-type')).toContain('text/javascript');
    expect(asset.headers.get('cache-control')).toContain('immutable');
    expect(await asset.text()).toContain('/signin/options');
    expect((await web.request('/assets/nope.js')).status).toBe(404);
  });
});

describe('cross-site requests', () => {
  const post = (path: string, headers: Record<string, string>, body = '{}') => web.request(path, { method: 'POST', headers, body });

  it('refuses a JSON POST from another origin with a message naming both origins', async () => {
    const response = await post('/signin/options', { origin: 'https://evil.example', 'content-type': 'application/json' });
    expect(response.status).toBe(403);
    const { error } = (await response.json()) as { error: { code: string; message: string } };
    expect(error.code).toBe('cross_origin');
    expect(error.message).toContain('https://evil.example');
    expect(error.message).toContain('http://localhost:8787');
  });

  // Three layers guard every state change: Hono's csrf() (form posts), the strict origin check (every content type) and
  // the CSRF token. Each test below carries everything the other two layers want (a matching double-submit token,
  // or a same-origin header), so the layer under test is the only one that can refuse, and its own words must answer.
  const token = { cookie: 'cs_csrf=tok-1234', 'x-csrf-token': 'tok-1234' };
  const errorOf = async (response: Response) => ((await response.json()) as { error: { code: string; message: string } }).error;

  it("refuses a cross-site form POST at Hono's csrf(), even with a valid CSRF token", async () => {
    const form = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
    const response = await post('/signout', { ...form, ...token, origin: 'https://evil.example' }, '_csrf=tok-1234');
    expect(response.status).toBe(403);
    expect(await errorOf(response)).toMatchObject({ code: 'cross_origin', message: expect.stringContaining('This form was not sent from http://localhost:8787') });
  });

  it('refuses a cross-site JSON POST at the strict origin check (csrf() lets JSON through), even with a valid CSRF token', async () => {
    const json = { 'content-type': 'application/json', accept: 'application/json' };
    const evil = await post('/signin/options', { ...json, ...token, origin: 'https://evil.example' });
    expect(evil.status).toBe(403);
    expect(await errorOf(evil)).toMatchObject({ code: 'cross_origin', message: expect.stringContaining('This request came from https://evil.example') });
    for (const headers of [{}, { origin: 'null', 'sec-fetch-site': 'cross-site' }] as Record<string, string>[]) {
      const unproven = await post('/signin/options', { ...json, ...token, ...headers });
      expect(unproven.status).toBe(403);
      expect(await errorOf(unproven)).toMatchObject({ code: 'cross_origin', message: expect.stringContaining("did not say it came from Countersign's own pages") });
    }
  });

  it('refuses a same-origin POST without the matching CSRF token at the token check', async () => {
    const form = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json', origin: 'http://localhost:8787' };
    for (const [headers, body] of [[{}, '_csrf=x'], [{ cookie: 'cs_csrf=tok-1234' }, '_csrf=tok-9999'], [{ cookie: 'cs_csrf=tok-1234' }, '']] as const) {
      const response = await post('/signout', { ...form, ...headers }, body);
      expect(response.status).toBe(403);
      expect((await errorOf(response)).code).toBe('csrf_token');
    }
  });

  it('lets a same-origin POST past the origin check but still wants the CSRF token', async () => {
    const sameOrigin: Record<string, string>[] = [{ origin: 'http://localhost:8787' }, { origin: 'null', 'sec-fetch-site': 'same-origin' }];
    for (const headers of sameOrigin) {
      const response = await post('/signin/options', { ...headers, 'content-type': 'application/json', accept: 'application/json' });
      expect(response.status).toBe(403);
      expect(((await response.json()) as { error: { code: string } }).error.code).toBe('csrf_token');
    }
    const mismatched = await post('/signin/options', {
      origin: 'http://localhost:8787',
      'content-type': 'application/json',
      cookie: 'cs_csrf=aaaa',
      'x-csrf-token': 'bbbb',
    });
    expect(mismatched.status).toBe(403);
  });
});

describe('sessions come only from passkey sign-in', () => {
  it('ignores an agent bearer token: no session, no inbox', async () => {
    const response = await web.request('/', { headers: { authorization: 'Bearer cs_agent_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG' } });
    expect(response.status).toBe(303);
    expect(response.headers.get('location')).toBe('/signin');
    expect(response.headers.get('set-cookie') ?? '').not.toContain('cs_session=');
  });
});

describe('configuration and commands', () => {
  it('refuses a public URL that cannot carry passkeys, saying what to set', () => {
    expect(() => app('http://127.0.0.1:8787')).toThrow(/https, or on http:\/\/localhost/);
    expect(() => app('not a url')).toThrow(/not a URL/);
  });

  it('answers unknown pages with a 404 page, not a crash', async () => {
    const response = await web.request('/nope');
    expect(response.status).toBe(404);
    expect(await response.text()).toContain('There is no page at /nope');
  });

  it('rejects a bad email or role in approver invite before touching the database', async () => {
    const plain = await approverInvite(noDb, 'http://localhost:8787', { email: 'not-an-email' });
    expect(plain.exitCode).toBe(2);
    expect(plain.stdout).toContain('"not-an-email" is not an email address');
    const json = await approverInvite(noDb, 'http://localhost:8787', { email: 'jane@example.com', role: 'Bad Role', json: true });
    expect(json.exitCode).toBe(2);
    expect(JSON.parse(json.stdout)).toEqual({ error: { code: 'bad_request', message: expect.stringContaining('role "Bad Role"') } });
  });
});
