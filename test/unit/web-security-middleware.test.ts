import { describe, expect, it } from 'vitest';
import { Hono, type MiddlewareHandler } from 'hono';
import { csrfToken, originCheck, throttled } from '../../approval-web/security.ts';
import type { WebEnv } from '../../approval-web/context.ts';
import { failureThrottle } from '../../net/throttle.ts';

// The web app's security middleware on its own (web-security.test.ts tests it inside the whole app): each check
// alone in front of a route that answers 200, so what passes and what is refused, and what is reported, is this
// middleware's doing. Every case here was seen failing with the check's line changed (Stryker, test/mutation).

const ORIGIN = 'https://cs.example.com';
type Reported = [string, string][];
const reporter = () => {
  const seen: Reported = [];
  return { seen, report: (what: string, detail: string) => void seen.push([what, detail]) };
};
const errorOf = async (response: Response) => ((await response.json()) as { error: { code: string; message: string } }).error;

function guarded(middleware: MiddlewareHandler<WebEnv>[], before?: MiddlewareHandler<WebEnv>) {
  const app = new Hono<WebEnv>();
  if (before) app.use(before);
  for (const m of middleware) app.use(m);
  app.all('/x', (c) => c.json({ ok: true, token: c.var.csrfToken ?? null }));
  return app;
}

describe('originCheck', () => {
  const post = (app: Hono<WebEnv>, headers: Record<string, string>, body = '{}') =>
    app.request('/x', { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json', ...headers }, body });

  it('lets through the same origin, and Origin null or none only when Sec-Fetch-Site says same-origin', async () => {
    const { seen, report } = reporter();
    const app = guarded(originCheck(ORIGIN, report));
    for (const headers of [{ origin: ORIGIN }, { origin: 'null', 'sec-fetch-site': 'same-origin' }, { 'sec-fetch-site': 'same-origin' }] as Record<string, string>[]) {
      expect((await post(app, headers)).status, JSON.stringify(headers)).toBe(200);
    }
    expect(seen).toEqual([]);
  });

  it('refuses another origin even when Sec-Fetch-Site claims same-origin, and an unproven one, reporting each', async () => {
    const { seen, report } = reporter();
    const app = guarded(originCheck(ORIGIN, report));
    const evil = await post(app, { origin: 'https://evil.example', 'sec-fetch-site': 'same-origin' });
    expect(evil.status).toBe(403);
    expect(await errorOf(evil)).toEqual({ code: 'cross_origin', message: `This request came from https://evil.example, not from ${ORIGIN}. Open Countersign at ${ORIGIN} and try again.` });
    for (const headers of [{}, { 'sec-fetch-site': 'cross-site' }, { origin: 'null', 'sec-fetch-site': 'same-site' }] as Record<string, string>[]) {
      const unproven = await post(app, headers);
      expect(unproven.status, JSON.stringify(headers)).toBe(403);
      expect(await errorOf(unproven)).toEqual({ code: 'cross_origin', message: `This request did not say it came from Countersign's own pages. Open Countersign at ${ORIGIN} and try again.` });
    }
    expect(seen).toEqual([
      ['cross_origin', 'POST /x from https://evil.example'],
      ['cross_origin', 'POST /x from (no origin)'],
      ['cross_origin', 'POST /x from (no origin)'],
      ['cross_origin', 'POST /x from null'],
    ]);
  });

  it('checks no safe method, and refuses a cross-site form post whatever it carries', async () => {
    const app = guarded(originCheck(ORIGIN));
    expect((await app.request('/x', { headers: { origin: 'https://evil.example' } })).status).toBe(200);
    expect((await app.request('/x', { method: 'OPTIONS', headers: { origin: 'https://evil.example' } })).status).toBe(200);
    const form = await app.request('/x', { method: 'POST', headers: { origin: 'https://evil.example', 'content-type': 'application/x-www-form-urlencoded' }, body: 'a=1' });
    expect(form.status).toBe(403);
  });

  it("keeps Hono's csrf() in front: a cross-site form post is refused by it, before the strict check reports anything", async () => {
    const { seen, report } = reporter();
    const app = guarded(originCheck(ORIGIN, report));
    const form = await app.request('/x', { method: 'POST', headers: { origin: 'https://evil.example', 'content-type': 'application/x-www-form-urlencoded' }, body: 'a=1' });
    expect(form.status).toBe(403);
    expect(seen).toEqual([]); // the strict check never ran: csrf() answered first
  });
});

describe('csrfToken', () => {
  const cookie = { name: 'cs_csrf', secure: false };
  const app = (report?: (what: string, detail: string) => void, session?: string) =>
    guarded([csrfToken({ csrfCookie: cookie }, report)], session ? async (c, next) => (c.set('session', { csrfToken: session } as never), next()) : undefined);
  const post = (a: Hono<WebEnv>, headers: Record<string, string>, body = '') => a.request('/x', { method: 'POST', headers: { accept: 'application/json', ...headers }, body });

  it('hands out a new pre-session token in an HttpOnly cookie once, and keeps the one the browser has', async () => {
    const first = await app().request('/x');
    const set = first.headers.get('set-cookie')!;
    const token = /^cs_csrf=([A-Za-z0-9_-]{43}); Path=\/; HttpOnly; SameSite=Strict$/.exec(set)![1];
    expect(((await first.json()) as { token: string }).token).toBe(token);
    const again = await app().request('/x', { headers: { cookie: `cs_csrf=${token}` } });
    expect(again.headers.get('set-cookie')).toBeNull();
    expect(((await again.json()) as { token: string }).token).toBe(token);
  });

  it("checks a signed-in POST against the session's token, not the pre-session cookie", async () => {
    const signedIn = app(undefined, 'session-token');
    expect((await post(signedIn, { cookie: 'cs_csrf=cookie-token', 'x-csrf-token': 'session-token' })).status).toBe(200);
    expect((await post(signedIn, { cookie: 'cs_csrf=cookie-token', 'x-csrf-token': 'cookie-token' })).status).toBe(403);
  });

  it('takes the token from the header, or from the _csrf field of a form or multipart body', async () => {
    const a = app();
    const jar = { cookie: 'cs_csrf=tok-1234' };
    expect((await post(a, { ...jar, 'x-csrf-token': 'tok-1234', 'content-type': 'application/json' }, '{}')).status).toBe(200);
    expect((await post(a, { ...jar, 'content-type': 'application/x-www-form-urlencoded; charset=UTF-8' }, '_csrf=tok-1234')).status).toBe(200);
    expect((await post(a, { ...jar, 'content-type': 'Application/X-WWW-Form-Urlencoded' }, '_csrf=tok-1234')).status).toBe(200);
    const multipart = new FormData();
    multipart.set('_csrf', 'tok-1234');
    expect((await a.request('/x', { method: 'POST', headers: jar, body: multipart })).status).toBe(200);
    // The header, when sent, is what counts; the body is then not read for a token.
    expect((await post(a, { ...jar, 'x-csrf-token': 'tok-1234', 'content-type': 'application/x-www-form-urlencoded' }, '_csrf=wrong')).status).toBe(200);
  });

  it('refuses a body of another type carrying the field, a missing, wrong or longer token, and reports each', async () => {
    const { seen, report } = reporter();
    const a = app(report);
    const jar = { cookie: 'cs_csrf=tok-1234' };
    const cases: [Record<string, string>, string][] = [
      [{ 'content-type': 'text/plain' }, '_csrf=tok-1234'],
      [{ 'content-type': 'x-application/x-www-form-urlencoded' }, '_csrf=tok-1234'],
      [{ 'content-type': 'application/json' }, '{"_csrf":"tok-1234"}'],
      [{ 'content-type': 'application/x-www-form-urlencoded' }, 'other=tok-1234'],
      [{ 'content-type': 'application/x-www-form-urlencoded' }, '_csrf=tok-12345'],
      [{ 'x-csrf-token': 'tok-123' }, ''],
      [{ 'x-csrf-token': 'tok-9999' }, ''],
    ];
    for (const [headers, body] of cases) {
      const response = await post(a, { ...jar, ...headers }, body);
      expect(response.status, JSON.stringify([headers, body])).toBe(403);
      expect(await errorOf(response)).toEqual({ code: 'csrf_token', message: 'This form has expired or did not come from this page. Reload the page and try again.' });
    }
    // No cookie and no session: a fresh token was made for this response, which the request cannot have sent.
    expect((await post(a, { 'x-csrf-token': 'anything' })).status).toBe(403);
    expect(seen).toEqual(Array.from({ length: cases.length + 1 }, () => ['csrf_token', 'POST /x']));
  });

  it('answers a form body that cannot be parsed with 400 naming its type', async () => {
    const response = await post(app(), { cookie: 'cs_csrf=tok-1234', 'content-type': 'multipart/form-data' }, 'not multipart');
    expect(response.status).toBe(400);
    expect(await errorOf(response)).toEqual({ code: 'bad_request', message: 'The request body is not a valid multipart/form-data body. Reload the page and send the form again.' });
  });
});

describe('throttled', () => {
  function route(max = 3) {
    const { seen, report } = reporter();
    let now = 1_000_000;
    const throttle = failureThrottle({ max, windowSeconds: 60, now: () => now });
    const app = new Hono();
    app.use(throttled(throttle, 'sign-in', report));
    app.post('/x', (c) => c.json({ status: Number(c.req.query('status')) }, Number(c.req.query('status')) as 200));
    const call = (status: number) => app.request(`/x?status=${status}`, { method: 'POST' });
    return { seen, call, later: (seconds: number) => (now += seconds * 1000) };
  }

  it('counts 4xx answers as failures and, past the limit, refuses before the route with 429 and Retry-After', async () => {
    const { seen, call, later } = route(3);
    expect((await call(400)).status).toBe(400);
    later(10);
    expect((await call(401)).status).toBe(401);
    expect((await call(499)).status).toBe(499);
    const refused = await call(200);
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('50'); // the first failure leaves the 60 s window in 50 s
    expect(await errorOf(refused)).toEqual({ code: 'too_many_attempts', message: 'Too many failed sign-in attempts from your network address. Wait 50 seconds, then try again.' });
    expect(seen).toEqual([['throttled', 'sign-in from unknown']]);
    later(51);
    expect((await call(200)).status).toBe(200);
  });

  it('does not count successes, server errors, 413 or 429 answers', async () => {
    const { seen, call } = route(1);
    for (const status of [200, 302, 413, 429, 500, 503]) expect((await call(status)).status, String(status)).toBe(status);
    expect(seen).toEqual([]);
    expect((await call(403)).status).toBe(403);
    expect((await call(200)).status).toBe(429);
  });
});
