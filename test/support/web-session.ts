import { eq } from 'drizzle-orm';
import { schema } from '../../kernel/index.ts';
import { createSession } from '../../approval-web/sessions.ts';
import type { Stack } from './harness.ts';

/**
 * A signed-in browser for one approver, as the web app sees it after a passkey sign-in: the session cookie, the
 * session's CSRF token and the page's Origin on every request. Sign-in itself is covered by the e2e tests.
 */
export interface WebClient {
  get(path: string, headers?: Record<string, string>): Promise<Response>;
  post(path: string, body: unknown, headers?: Record<string, string>): Promise<Response>;
}

export async function signedIn(stack: Stack, approverId: string): Promise<WebClient> {
  const { id, session } = await createSession(stack.services.database.db, approverId);
  const base = { cookie: `cs_session=${id}`, origin: new URL(stack.url).origin, accept: 'application/json' };
  return {
    get: (path, headers = {}) => fetch(`${stack.listenUrl}${path}`, { headers: { ...base, ...headers }, redirect: 'manual' }),
    post: (path, body, headers = {}) =>
      fetch(`${stack.listenUrl}${path}`, {
        method: 'POST',
        headers: { ...base, 'content-type': 'application/json', 'x-csrf-token': session.csrfToken, ...headers },
        body: JSON.stringify(body),
        redirect: 'manual',
      }),
  };
}

/** Waits for audit entries of `kind` (edge refusals are written once a second, as counts). */
export async function auditEntries(stack: Stack, kind: string, atLeast = 1): Promise<(typeof schema.auditEntries.$inferSelect)[]> {
  for (let i = 0; i < 100; i++) {
    // What was appended so far is integrated first: a caller filtering the rows must not see only an earlier batch.
    await stack.services.audit.sync();
    const rows = await stack.services.database.db.select().from(schema.auditEntries).where(eq(schema.auditEntries.kind, kind));
    if (rows.length >= atLeast) return rows;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no ${kind} audit entry within 10 s`);
}
