import { randomBytes } from 'node:crypto';
import { and, eq, gt, isNull } from 'drizzle-orm';
import type { Context, MiddlewareHandler } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import type { Db } from '../kernel/index.ts';
import type { WebDeps, WebEnv } from './context.ts';
import { hashToken } from './invites.ts';
import { sessions } from './schema.ts';

/** Sessions come only from a passkey sign-in (or enrollment, which is one); nothing else creates them. */

const SESSION_HOURS = 12;

export interface Session {
  approverId: string;
  csrfToken: string;
  expiresAt: Date;
}

/**
 * Browsers refuse `Secure` and `__Host-` cookies on plain http, so on http://localhost the cookie drops both;
 * on https it is the `__Host-` cookie DESIGN section 9 asks for.
 */
export interface CookiePolicy {
  name: string;
  secure: boolean;
}

export function cookiePolicy(publicUrl: string, base: string): CookiePolicy {
  const secure = new URL(publicUrl).protocol === 'https:';
  return { name: secure ? `__Host-${base}` : base, secure };
}

/** Starts a session with a fresh random id (only its hash is stored) and its own CSRF token. */
export async function createSession(db: Db, approverId: string): Promise<{ id: string; session: Session }> {
  const id = randomBytes(32).toString('base64url');
  const session: Session = {
    approverId,
    csrfToken: randomBytes(32).toString('base64url'),
    expiresAt: new Date(Date.now() + SESSION_HOURS * 3_600_000),
  };
  await db.insert(sessions).values({ idHash: hashToken(id), ...session });
  return { id, session };
}

/** The live session for a cookie value, or null when unknown, revoked or expired. */
export async function findSession(db: Db, id: string): Promise<Session | null> {
  const [row] = await db
    .select({ approverId: sessions.approverId, csrfToken: sessions.csrfToken, expiresAt: sessions.expiresAt })
    .from(sessions)
    .where(and(eq(sessions.idHash, hashToken(id)), isNull(sessions.revokedAt), gt(sessions.expiresAt, new Date())));
  return row ?? null;
}

/** Revokes server-side, so a copied cookie stops working too. */
export async function revokeSession(db: Db, id: string): Promise<void> {
  await db.update(sessions).set({ revokedAt: new Date() }).where(eq(sessions.idHash, hashToken(id)));
}

export function readSessionCookie(c: Context, policy: CookiePolicy): string | undefined {
  return getCookie(c, policy.name);
}

export function writeSessionCookie(c: Context, policy: CookiePolicy, id: string, expiresAt: Date): void {
  setCookie(c, policy.name, id, {
    path: '/',
    httpOnly: true,
    secure: policy.secure,
    sameSite: 'Strict',
    expires: expiresAt,
  });
}

export function clearSessionCookie(c: Context, policy: CookiePolicy): void {
  deleteCookie(c, policy.name, { path: '/', secure: policy.secure, httpOnly: true, sameSite: 'Strict' });
}

/** Loads the session named by the cookie and its approver into `c.var`; a stale cookie is simply cleared. */
export function sessionLoader(deps: Pick<WebDeps, 'store' | 'kernel' | 'sessionCookie'>): MiddlewareHandler<WebEnv> {
  return async (c, next) => {
    c.set('session', null);
    c.set('sessionId', null);
    c.set('approver', null);
    const id = readSessionCookie(c, deps.sessionCookie);
    if (id) {
      const session = await deps.store.findSession(id);
      const approver = session ? await deps.kernel.approverById(session.approverId) : null;
      if (session && approver) {
        c.set('session', session);
        c.set('sessionId', id);
        c.set('approver', approver);
      } else {
        clearSessionCookie(c, deps.sessionCookie);
      }
    }
    return next();
  };
}

/** Starts a session for an approver who just proved a passkey, and sets its cookie. The only way in. */
export async function signIn(c: Context<WebEnv>, deps: Pick<WebDeps, 'store' | 'sessionCookie'>, approverId: string): Promise<void> {
  const { id, session } = await deps.store.createSession(approverId);
  writeSessionCookie(c, deps.sessionCookie, id, session.expiresAt);
}

/**
 * Where to go after signing in: a path on this site only (one leading slash, no scheme, no backslash, no control
 * characters), or null. A link someone sends cannot send the approver anywhere else.
 */
export function safeNext(next: string | null | undefined): string | null {
  if (!next || next.length > 512 || next === '/') return null;
  return /^\/(?![\/\\])[A-Za-z0-9\-._~!$&'()*+,;=:@%\/?]*$/.test(next) ? next : null;
}

/**
 * Pages behind sign-in: a navigation goes to /signin, carrying the page it wanted (`?next=`) so a link to a request
 * opens that request once the passkey is in; anything else gets a 403 that says to sign in.
 */
export const requireApprover: MiddlewareHandler<WebEnv> = async (c, next) => {
  if (c.var.approver) return next();
  if (c.req.method === 'GET' || c.req.method === 'HEAD') {
    const url = new URL(c.req.url);
    const wanted = safeNext(url.pathname + url.search);
    const page = wanted && !/^\/(events|inbox\/fragment)\b/.test(wanted) ? wanted : null;
    return c.redirect(page ? `/signin?next=${encodeURIComponent(page)}` : '/signin', 303);
  }
  return c.json({ error: { code: 'signed_out', message: 'You are signed out. Sign in with your passkey and try again.' } }, 403);
};
