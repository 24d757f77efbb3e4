import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import { getCookie, setCookie } from 'hono/cookie';
import { csrf } from 'hono/csrf';
import { NONCE, secureHeaders } from 'hono/secure-headers';
import { clientAddress } from '../net/proxy.ts';
import type { Throttle } from '../net/throttle.ts';
import type { WebDeps, WebEnv } from './context.ts';
import { problem } from './problem.tsx';
import { readForm } from './routes/body.ts';

/**
 * The web app's security middleware (DESIGN section 9, invariant 7). Each factory turns options into a checker once.
 * Order in the app: headers, origin, session, CSRF token.
 */

const SAFE_METHOD = /^(GET|HEAD|OPTIONS)$/;

/** Strict CSP with a fresh nonce per response, no inline script; HSTS only where the site is https. */
export function securityHeaders(publicUrl: string): MiddlewareHandler<WebEnv> {
  return secureHeaders({
    contentSecurityPolicy: {
      defaultSrc: ["'none'"],
      scriptSrc: [NONCE, "'strict-dynamic'"],
      styleSrc: ["'self'", NONCE],
      imgSrc: ["'self'", 'data:'],
      connectSrc: ["'self'"],
      // The Web Push service worker (/sw.js); strict-dynamic does not extend to workers.
      workerSrc: ["'self'"],
      formAction: ["'self'"],
      baseUri: ["'none'"],
      frameAncestors: ["'none'"],
    },
    strictTransportSecurity: new URL(publicUrl).protocol === 'https:' ? 'max-age=31536000; includeSubDomains' : false,
    xFrameOptions: 'DENY',
    referrerPolicy: 'no-referrer',
    xContentTypeOptions: 'nosniff',
  }) as MiddlewareHandler<WebEnv>;
}

/** Told about each refusal, for the audit log (the kernel counts them per kind). Must not throw. */
export type Reporter = (what: string, detail: string) => void;

/**
 * Refuses state changes from any other origin. Hono's `csrf()` covers form posts; the second check covers every
 * other content type too (JSON from fetch), and refuses a request that proves neither its Origin nor Sec-Fetch-Site.
 */
export function originCheck(origin: string, report: Reporter = () => {}): MiddlewareHandler<WebEnv>[] {
  const strict: MiddlewareHandler<WebEnv> = async (c, next) => {
    if (SAFE_METHOD.test(c.req.method)) return next();
    const sent = c.req.header('origin');
    // Under `Referrer-Policy: no-referrer` Chromium sends `Origin: null` on form posts; the browser-set
    // Sec-Fetch-Site header then says whether the post came from our own pages.
    const sameOrigin = sent === origin || ((sent === undefined || sent === 'null') && c.req.header('sec-fetch-site') === 'same-origin');
    if (!sameOrigin) {
      report('cross_origin', `${c.req.method} ${c.req.path} from ${sent ?? '(no origin)'}`);
      return problem(c, 403, 'cross_origin', sent && sent !== 'null'
        ? `This request came from ${sent}, not from ${origin}. Open Countersign at ${origin} and try again.`
        : `This request did not say it came from Countersign's own pages. Open Countersign at ${origin} and try again.`);
    }
    return next();
  };
  return [csrf({ origin }) as MiddlewareHandler<WebEnv>, strict];
}

function same(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

/**
 * Sets `c.var.csrfToken` and checks it on every POST: the session's own token when signed in, otherwise a pre-session
 * token kept in an HttpOnly cookie (double submit), so sign-in and enrollment are covered too.
 * Pages send it back as the `_csrf` form field or the `x-csrf-token` header.
 */
export function csrfToken(deps: Pick<WebDeps, 'csrfCookie'>, report: Reporter = () => {}): MiddlewareHandler<WebEnv> {
  const { csrfCookie } = deps;
  return async (c, next) => {
    let expected = c.var.session?.csrfToken ?? getCookie(c, csrfCookie.name);
    if (!expected) {
      expected = randomBytes(32).toString('base64url');
      setCookie(c, csrfCookie.name, expected, { path: '/', httpOnly: true, secure: csrfCookie.secure, sameSite: 'Strict' });
    }
    c.set('csrfToken', expected);
    if (SAFE_METHOD.test(c.req.method)) return next();
    let sent = c.req.header('x-csrf-token');
    if (!sent && /^(application\/x-www-form-urlencoded|multipart\/form-data)/i.test(c.req.header('content-type') ?? '')) {
      const form = await readForm(c);
      if (!form.ok) return problem(c, 400, 'bad_request', form.message);
      const field = form.value['_csrf'];
      sent = typeof field === 'string' ? field : undefined;
    }
    if (!sent || !same(sent, expected)) {
      report('csrf_token', `${c.req.method} ${c.req.path}`);
      return problem(c, 403, 'csrf_token', 'This form has expired or did not come from this page. Reload the page and try again.');
    }
    return next();
  };
}

/**
 * Throttles guessing on one route (sign-in, pairing codes): a client address whose attempts failed too often is
 * answered 429 with Retry-After before anything is checked. A failure is any 4xx answer but 413 and 429 themselves.
 * Refusals are reported (the kernel audits them as counts per second).
 */
export function throttled(throttle: Throttle, what: string, report: Reporter): MiddlewareHandler {
  return async (c, next) => {
    const address = clientAddress(c);
    const wait = throttle.blocked(address);
    if (wait > 0) {
      report('throttled', `${what} from ${address}`);
      const message = `Too many failed ${what} attempts from your network address. Wait ${wait} seconds, then try again.`;
      return c.json({ error: { code: 'too_many_attempts', message } }, 429, { 'retry-after': String(wait) });
    }
    await next();
    if (c.res.status >= 400 && c.res.status < 500 && c.res.status !== 413 && c.res.status !== 429) throttle.failed(address);
  };
}
