import { and, eq } from 'drizzle-orm';
import type { Browser, Page } from 'playwright-core';
import { createInvite } from '../../approval-web/index.ts';
import { schema, type JsonObject, type RequestView } from '../../kernel/index.ts';
import { addVirtualAuthenticator, phoneContext, type VirtualAuthenticator } from '../support/browser.ts';
import type { Stack } from '../support/harness.ts';

/** Helpers for the approval ceremony tests: approvers enrolled through the real pages, and raw ceremonies in-page. */

export interface BrowserApprover {
  email: string;
  id: string;
  page: Page;
  authenticator: VirtualAuthenticator;
}

/** A phone-sized context with its own virtual authenticator, enrolled from an invite and signed in. */
export async function enrollInBrowser(browser: Browser, stack: Stack, email: string, role?: string): Promise<BrowserApprover> {
  const context = await phoneContext(browser);
  const page = await context.newPage();
  const authenticator = await addVirtualAuthenticator(page);
  const invite = await createInvite(stack.services.database.db, { email, role: role ?? null, publicUrl: stack.url });
  await page.goto(invite.url);
  await page.getByRole('button', { name: 'Create passkey' }).click();
  await page.waitForURL(`${stack.url}/`);
  const approver = await stack.port.send<{ id: string }>('kernel', { op: 'approver.get', email, approverId: null });
  return { email, id: approver.id, page, authenticator };
}

/** Waits until the kernel's inbox for an approver holds a request for which `match` is true, and returns it. */
export async function waitForInbox(stack: Stack, approverId: string, match: (r: RequestView) => boolean = () => true): Promise<RequestView> {
  for (let i = 0; i < 200; i += 1) {
    const inbox = (await stack.port.send('kernel', { op: 'approval.inbox', approverId })) as unknown as RequestView[];
    const found = inbox.find(match);
    if (found) return found;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`nothing arrived in the inbox of ${approverId}`);
}

export const getRequest = (stack: Stack, requestId: string) =>
  stack.port.send<RequestView & JsonObject>('kernel', { op: 'request.get', requestId });

/** Opens the approval page, presses Approve or Reject, and returns the outcome text once the page shows it. */
export async function decideOnPage(page: Page, url: string, requestId: string, decision: 'approve' | 'reject', reason?: string) {
  await page.goto(`${url}/requests/${requestId}`);
  if (reason !== undefined) {
    // The reason field sits folded in the action bar ("Add a reason for rejecting") until asked for.
    if (!(await page.locator('#reason').isVisible())) await page.locator('#reason-box > summary').click();
    await page.locator('#reason').fill(reason);
  }
  await page.getByRole('button', { name: decision === 'approve' ? 'Approve' : 'Reject' }).click();
  await page.waitForSelector('#status[data-outcome]');
  return { outcome: await page.locator('#status').getAttribute('data-outcome'), text: await page.locator('#status').textContent() };
}

/**
 * Runs a passkey assertion in the page over the options the server gives for (requestId, decision), without
 * sending it: the test decides where the assertion goes. `userVerification: 'discouraged'` yields one without UV.
 */
export async function assertInPage(
  page: Page,
  requestId: string,
  decision: 'approve' | 'reject',
  userVerification: 'required' | 'discouraged' = 'required',
): Promise<Record<string, unknown>> {
  return page.evaluate(
    async ({ requestId, decision, userVerification }) => {
      const csrf = document.querySelector<HTMLMetaElement>('meta[name="csrf-token"]')!.content;
      const reply = await fetch(`/requests/${requestId}/options`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-csrf-token': csrf },
        body: JSON.stringify({ decision }),
      });
      if (!reply.ok) throw new Error(`options: ${reply.status} ${await reply.text()}`);
      const { options } = await reply.json();
      const publicKey = PublicKeyCredential.parseRequestOptionsFromJSON({ ...options, userVerification });
      const credential = (await navigator.credentials.get({ publicKey })) as PublicKeyCredential;
      return JSON.parse(JSON.stringify(credential.toJSON())) as Record<string, string>;
    },
    { requestId, decision, userVerification },
  );
}

/** Posts a decide body from inside the page (same origin, the page's CSRF token); returns status and reply. */
export async function postDecide(page: Page, requestId: string, body: object): Promise<{ status: number; reply: { error?: { code: string; message: string }; state?: string } }> {
  const json = JSON.stringify(body);
  return page.evaluate(
    async ({ requestId, json }) => {
      const csrf = document.querySelector<HTMLMetaElement>('meta[name="csrf-token"]')!.content;
      const response = await fetch(`/requests/${requestId}/decide`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json', 'x-csrf-token': csrf },
        body: json,
      });
      return { status: response.status, reply: await response.json() };
    },
    { requestId, json },
  );
}

/** The kernel's audit entries of one kind for one request. */
export async function auditKinds(stack: Stack, requestId: string, kind: string) {
  const { auditEntries } = schema;
  await stack.services.audit.sync();
  return stack.services.database.db
    .select()
    .from(auditEntries)
    .where(and(eq(auditEntries.requestId, requestId), eq(auditEntries.kind, kind)));
}
