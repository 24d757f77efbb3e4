import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createInvite, createPairingCode } from '../../approval-web/index.ts';
import { createSession } from '../../approval-web/sessions.ts';
import { startStack, type Stack } from '../support/harness.ts';
import { createTestConnector } from '../support/test-connector.ts';
import { LONG, runs, timeout } from './settings.ts';

/**
 * The web app's state-changing routes on a real server (sign-in, enrollment, approval, devices, push, the people
 * page, the device API) under arbitrary bodies: form fields, JSON that is almost a WebAuthn reply, multipart, bytes
 * that are not UTF-8, with and without a session and CSRF token. Every refusal is a 4xx with a message a person can
 * read (`{error: {code, message}}` or a page with an alert), never a 500. The stack trusts loopback as a proxy and
 * each case comes from its own X-Forwarded-For, so the guessing throttles do not turn every later case into a 429.
 */

const CONFIG = `
trustProxy: [loopback]
holdSeconds: 0
policy:
  default: approve
`;

let stack: Stack;
let origin: string;
let cookie: string;
let csrf: string;
let requestId: string;
let inviteToken: string;
let pairingCode: string;

beforeAll(async () => {
  if (!LONG) return; // vitest.config leaves this file out of the fast part; a direct run of it without FUZZ_RUNS skips
  stack = await startStack({ config: CONFIG, connectors: [createTestConnector()] });
  origin = new URL(stack.url).origin;
  const owner = await stack.enrollApprover('owner@example.com', ['auditor']);
  const { agentId } = await stack.addAgent('fuzz-agent', 'owner@example.com');
  requestId = (await stack.submit(agentId, 'test_write_note', { key: 'k', text: 'hello' })).id;
  const db = stack.services.database.db;
  const { id, session } = await createSession(db, owner.id);
  cookie = `cs_session=${id}`;
  csrf = session.csrfToken;
  inviteToken = new URL((await createInvite(db, { email: 'new@example.com', publicUrl: stack.url })).url).pathname.split('/').pop()!;
  pairingCode = (await createPairingCode(db, { approverId: owner.id })).code;
}, 180_000);
afterAll(async () => {
  await stack?.close();
});

const nasty = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 16 }),
  fc.constantFrom('', 'x'.repeat(5000), '\u0000', '\uD800', '<script>', '../../', 'public-key', 'approve', 'reject', 'mark_done', 'run_again', '__proto__', 'null', '[]', '{}'),
);
const json: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  v: fc.oneof({ depthSize: 'small' }, nasty, fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.array(tie('v'), { maxLength: 3 }), fc.dictionary(nasty, tie('v'), { maxKeys: 3 })),
})).v;
/** Almost what the pages send after a passkey ceremony, or a decision: the fields right, the values anything. */
const ceremony = fc.record(
  {
    challengeId: fc.oneof(nasty, fc.uuid()),
    response: fc.oneof(json, fc.record({ id: nasty, type: fc.constantFrom('public-key', 'x'), rawId: nasty, response: fc.dictionary(fc.constantFrom('clientDataJSON', 'authenticatorData', 'signature', 'userHandle', 'attestationObject'), nasty) }, { requiredKeys: [] })),
    decision: fc.constantFrom('approve', 'reject', 'mark_done', 'run_again', 'x'),
    reason: fc.oneof(nasty, fc.constant(null)),
    code: fc.oneof(nasty, fc.constant('PAIRING')),
    name: nasty,
    publicJwk: fc.oneof(json, fc.record({ kty: fc.constantFrom('OKP', 'EC', 'RSA'), crv: fc.constantFrom('Ed25519', 'P-256'), x: nasty })),
    endpoint: fc.constantFrom('https://push.example.com/x', 'https://127.0.0.1/x', 'http://169.254.169.254/', 'not a url'),
    keys: json,
    email: fc.constantFrom('new@example.com', 'a@b', 'x'),
    requestId: fc.oneof(nasty, fc.constant('REQUEST')),
    jws: nasty,
  },
  { requiredKeys: [] },
);

const paths = () => [
  '/signin/options', '/signin/verify', '/signout',
  `/enroll/${inviteToken}/options`, `/enroll/${inviteToken}/verify`, '/enroll/nope/options', '/enroll/%ZZ/verify',
  `/requests/${requestId}/options`, `/requests/${requestId}/decide`, '/requests/req_nope/decide', '/requests/%00/options',
  '/devices/pair', '/devices/dev_nope/remove', `/devices/${'x'.repeat(300)}/remove`,
  '/push/subscribe', '/audit/people/options', '/audit/people/confirm',
  '/api/v1/devices/pair', '/api/v1/devices/decide', '/api/v1/devices/inbox', '/api/v1/devices/nope',
];

type Encoding = 'json' | 'form' | 'multipart' | 'text' | 'bytes' | 'none';
const encodings: Encoding[] = ['json', 'json', 'json', 'form', 'form', 'multipart', 'text', 'bytes', 'none'];

/** The body as bytes or text, with the content type a client would send for it. */
function encode(value: Record<string, unknown>, encoding: Encoding, bytes: Uint8Array, withCsrf: boolean): { body?: BodyInit; type?: string } {
  const fields = { ...value, ...(withCsrf ? { _csrf: csrf } : {}) };
  const resolved = JSON.parse(JSON.stringify(fields).replaceAll('"PAIRING"', JSON.stringify(pairingCode)).replaceAll('"REQUEST"', JSON.stringify(requestId))) as Record<string, unknown>;
  const text = (v: unknown) => (typeof v === 'string' ? v : JSON.stringify(v) ?? '');
  switch (encoding) {
    case 'json':
      return { body: JSON.stringify(resolved), type: 'application/json' };
    case 'form':
      return { body: new URLSearchParams(Object.entries(resolved).map(([k, v]) => [k, text(v)])).toString(), type: 'application/x-www-form-urlencoded' };
    case 'multipart': {
      const form = new FormData();
      for (const [k, v] of Object.entries(resolved)) form.append(k, text(v));
      return { body: form };
    }
    case 'text':
      return { body: JSON.stringify(resolved).slice(0, -1), type: 'text/plain' };
    case 'bytes':
      return { body: Buffer.from(bytes), type: 'application/json' };
    case 'none':
      return {};
  }
}

/** A refusal a person can act on: JSON `{error: {code, message}}`, or a page with an alert. */
function expectClear(status: number, type: string, text: string, sent: string): void {
  const where = `${status} ${type} ${text.slice(0, 300)} for ${sent.slice(0, 400)}`;
  expect(status, where).toBeLessThan(500);
  if (status < 400) return;
  if (type.includes('application/json')) {
    const parsed = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } };
    expect(typeof parsed.error?.message === 'string' && parsed.error.message.length > 10, where).toBe(true);
    expect(typeof parsed.error?.code, where).toBe('string');
  } else if (type.includes('text/html')) {
    expect(text, where).toMatch(/role="alert"/);
  } else {
    expect(text.length, where).toBeGreaterThan(10);
  }
}

let client = 0;

// A server per file costs more than the fast part's budget: these run in the long run (`npm run fuzz`) only.
describe.runIf(LONG)('web routes fuzz (real server)', () => {
  it('arbitrary bodies to sign-in, enrollment, approval, device, push and people routes: a clear 4xx, never a 500', async () => {
    const all = paths();
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...all),
        ceremony,
        fc.constantFrom(...encodings),
        fc.uint8Array({ maxLength: 32 }),
        fc.record({ session: fc.boolean(), csrf: fc.boolean(), origin: fc.constantFrom('same', 'same', 'none', 'evil'), device: fc.option(fc.stringMatching(/^[\x21-\x7e]{0,40}$/)) }),
        async (path, value, encoding, bytes, who) => {
          const { body, type } = encode(value as Record<string, unknown>, encoding, bytes, who.csrf);
          const headers: Record<string, string> = { 'x-forwarded-for': `10.${(client >> 16) & 255}.${(client >> 8) & 255}.${client++ & 255}`, accept: 'text/html,application/json' };
          if (type) headers['content-type'] = type;
          if (who.session) headers.cookie = cookie;
          if (who.csrf) headers['x-csrf-token'] = csrf;
          if (who.origin === 'same') headers.origin = origin;
          if (who.origin === 'evil') headers.origin = 'https://evil.example';
          if (who.device !== null) headers.authorization = `Countersign-Device ${who.device}`;
          const res = await fetch(`${stack.listenUrl}${path}`, { method: 'POST', headers, body, redirect: 'manual', signal: AbortSignal.timeout(30_000) });
          const text = await res.text();
          expectClear(res.status, res.headers.get('content-type') ?? '', text, `POST ${path} ${JSON.stringify(headers)} ${encoding} ${typeof body === 'string' ? body : ''}`);
        },
      ),
      runs(60, 0.1),
    );
  }, timeout(60, 300, 0.1));

  it('the server is still up and the inbox still renders', async () => {
    const res = await fetch(`${stack.listenUrl}/`, { headers: { cookie } });
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('Countersign');
  });
});
