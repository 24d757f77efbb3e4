import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from '../support/harness.ts';
import { createTestConnector } from '../support/test-connector.ts';
import { signedIn, type WebClient } from '../support/web-session.ts';

/**
 * What the long fuzz (test/fuzz/hostile.long.test.ts, `npm run fuzz -- --long`) found on the web app, each kept as a
 * regression test. (Its /mcp and CONNECT findings sit with their kind: mcp.test.ts and limits.test.ts.)
 */

let stack: Stack;
let web: WebClient;
let origin: string;

beforeAll(async () => {
  stack = await startStack({ config: 'policy:\n  default: approve\n', connectors: [createTestConnector()] });
  origin = new URL(stack.url).origin;
  web = await signedIn(stack, (await stack.enrollApprover('owner@example.com')).id);
}, 60_000);
afterAll(async () => {
  await stack?.close();
});

const raw = (method: string, path: string, type: string, body: string, headers: Record<string, string> = {}) =>
  fetch(`${stack.listenUrl}${path}`, { method, headers: { origin, 'content-type': type, ...headers }, body, redirect: 'manual' });

describe('a form body that is not the form its Content-Type names', () => {
  const broken: [string, string][] = [
    ['multipart/form-data', 'garbage'],
    ['multipart/form-data; boundary=XYZ', 'garbage'],
    ['multipart/form-data; boundary=XYZ', '--XYZ\r\nContent-Disposition: form-data; name="_csrf"\r\n\r\nx'],
  ];

  it.each(broken)('is refused 400 with what to do, before any sign-in (%s; it was a 500)', async (type, body) => {
    for (const [method, path] of [['POST', '/signin/options'], ['DELETE', '/'], ['POST', '/enroll/nope/verify']]) {
      const res = await raw(method!, path!, type, body, { accept: 'application/json' });
      expect(res.status, `${method} ${path}`).toBe(400);
      expect((await res.json()).error).toMatchObject({ code: 'bad_request', message: expect.stringMatching(/not a valid multipart\/form-data body/) });
    }
  });

  it('is refused 400 on a signed-in form post that passed the CSRF check by header (Pair a Passport)', async () => {
    const res = await web.post('/devices/pair', 'ignored', { 'content-type': 'multipart/form-data; boundary=XYZ' });
    // web.post sends JSON.stringify(body): a quoted string, not multipart.
    expect(res.status).toBe(400);
    expect((await res.json()).error.message).toMatch(/not a valid multipart\/form-data body/);
    // The control: a real form is served.
    const form = new FormData();
    form.append('name', 'kitchen Passport');
    const ok = await fetch(`${stack.listenUrl}/devices/pair`, { method: 'POST', headers: { cookie: (await cookieHeader()), origin, 'x-csrf-token': await csrf() }, body: form });
    expect(ok.status).toBe(200);
  });
});

let session: { cookie: string; csrf: string } | undefined;
async function signedInRaw(): Promise<{ cookie: string; csrf: string }> {
  if (session) return session;
  const { createSession } = await import('../../approval-web/sessions.ts');
  const approver = await stack.enrollApprover('second@example.com');
  const { id, session: s } = await createSession(stack.services.database.db, approver.id);
  return (session = { cookie: `cs_session=${id}`, csrf: s.csrfToken });
}
const cookieHeader = async () => (await signedInRaw()).cookie;
const csrf = async () => (await signedInRaw()).csrf;
