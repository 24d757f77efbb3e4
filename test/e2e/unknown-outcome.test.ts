import { eq } from 'drizzle-orm';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readEntries, schema, verifyStored, type JsonObject, type RequestView } from '../../kernel/index.ts';
import { launchBrowser, screenshot } from '../support/browser.ts';
import { startStack, type Stack } from '../support/harness.ts';
import { createTestConnector, type TestConnector } from '../support/test-connector.ts';
import { enrollInBrowser, getRequest, type BrowserApprover } from './approve-support.ts';

/**
 * "This may or may not have run": a write whose server died mid-call and whose connector cannot look upstream ends
 * `unknown`; its owner opens the page, checks, and signs Mark as done or Run again with a passkey (the CDP virtual
 * authenticator, user verification on). The request's final state and its audit entries follow each. The crash
 * itself is exercised against a real process in test/integration/crash-matrix.test.ts; here the row is put where a
 * crash leaves it (executing, lease lapsed, its grant used) and the kernel's own recovery takes it from there.
 */

const CONFIG = `
leaseSeconds: 1
policy:
  default: approve
  rules:
    - id: notes
      tools: [test_write_note]
      decision: allow
`;

let stack: Stack;
let connector: TestConnector;
let browser: Browser;
let owner: BrowserApprover;
let agentId: string;

beforeAll(async () => {
  connector = createTestConnector();
  stack = await startStack({ config: CONFIG, connectors: [connector] });
  ({ agentId } = await stack.addAgent('notes-agent', 'owner@example.com'));
  browser = await launchBrowser();
  owner = await enrollInBrowser(browser, stack, 'owner@example.com');
  // A passkey ceremony on a machine shared with other suites can outlast Playwright's 30 s default.
  owner.page.setDefaultTimeout(90_000);
});

afterAll(async () => {
  await browser?.close();
  await stack?.close();
});

/** Runs a note write, then leaves it as a SIGKILL mid-call would and lets recovery find that nobody can tell. */
async function unknownWrite(key: string): Promise<RequestView> {
  const done = await stack.submit(agentId, 'test_write_note', { key, text: 'written once' });
  expect(done.state).toBe('succeeded');
  const db = stack.services.database.db;
  await db.update(schema.requests).set({ state: 'executing', result: null, leaseOwner: 'replica-that-died', leaseUntil: new Date(0) }).where(eq(schema.requests.id, done.id));
  await stack.services.kernel.recover();
  const view = await getRequest(stack, done.id);
  expect(view).toMatchObject({ state: 'unknown', error: { code: 'outcome_unknown' } });
  return view;
}

async function auditOf(requestId: string): Promise<{ kind: string; data: JsonObject }[]> {
  await stack.services.audit.sync();
  const found: { kind: string; data: JsonObject }[] = [];
  for await (const e of readEntries(stack.services.database.db, { requestId })) found.push({ kind: e.kind, data: e.data as JsonObject });
  return found;
}

const executions = (requestId: string) => connector.executions.filter((e) => e.requestId === requestId).length;

async function resolveOnPage(requestId: string, button: 'Mark as done' | 'Run again', reason: string) {
  const page = owner.page;
  await page.goto(`${stack.url}/`);
  await expect(page.locator(`#inbox li[data-id="${requestId}"]`).textContent()).resolves.toContain('This may or may not have run');
  await page.goto(`${stack.url}/requests/${requestId}`);
  await expect(page.locator('#unknown h2').textContent()).resolves.toBe('This may or may not have run');
  // What is unknown and where to look, inside their own boxes (a block value inside a <p> used to end the paragraph,
  // leaving the notice box empty and the text loose below it).
  await expect(page.locator('#unknown-why').textContent()).resolves.toContain('test_write_note cannot look upstream for what it did');
  await expect(page.locator('#unknown-check').textContent()).resolves.toMatch(/^What to check upstream: the upstream system for test_write_note$/);
  await page.locator('#reason').fill(reason);
  await screenshot(page, 'unknown-outcome-390x844');
  await page.getByRole('button', { name: button }).click();
  // The page shows the outcome in #status, then the live inbox reloads it into the final view (#final): either will do.
  const shown = await page.waitForFunction(() => {
    const status = document.querySelector('#status[data-outcome]');
    if (status) return { outcome: status.getAttribute('data-outcome'), text: status.textContent };
    const final = document.querySelector('#final');
    return final ? { outcome: final.getAttribute('data-state'), text: final.textContent } : null;
  });
  return (await shown.jsonValue())!;
}

describe('resolving "This may or may not have run" with a passkey', () => {
  it('Mark as done: the request succeeds with the owner’s word as its result, nothing runs again, audited', async () => {
    const view = await unknownWrite('seen-upstream');
    const { outcome, text } = await resolveOnPage(view.id, 'Mark as done', 'the note is there');
    expect(outcome).toBe('succeeded');
    expect(text).toMatch(/Marked as done|ran successfully/);
    await screenshot(owner.page, 'unknown-marked-done');

    const final = await getRequest(stack, view.id);
    expect(final).toMatchObject({ state: 'succeeded', error: null, result: { data: { status: 'marked_done', by: 'owner@example.com', reason: 'the note is there' } } });
    expect(executions(view.id)).toBe(1);
    const audit = await auditOf(view.id);
    const after = audit.slice(audit.findIndex((e) => e.kind === 'execution.unknown'));
    expect(after.map((e) => e.kind)).toEqual(['execution.unknown', 'execution.reconciled', 'execution.resolved', 'execution.succeeded']);
    expect(after[1]!.data).toMatchObject({ answer: 'cannot_tell' });
    expect(after[2]!.data).toMatchObject({ decision: 'mark_done', reason: 'the note is there', approver: 'owner@example.com', evidenceKind: 'webauthn', digest: view.digest });
  });

  it('Run again: the request runs once more, under a new grant, and succeeds with the upstream result, audited', async () => {
    const view = await unknownWrite('not-upstream');
    // The owner looked upstream and the note is not there (as if the first call never arrived).
    connector.notes.delete('not-upstream');
    const { outcome } = await resolveOnPage(view.id, 'Run again', 'no note upstream');
    expect(['executing', 'succeeded']).toContain(outcome);
    let final = await getRequest(stack, view.id);
    for (let i = 0; i < 100 && final.state !== 'succeeded'; i++) {
      await new Promise((r) => setTimeout(r, 100));
      final = await getRequest(stack, view.id);
    }
    expect(final).toMatchObject({ state: 'succeeded', result: { data: { key: 'not-upstream', written: true } } });
    expect(executions(view.id)).toBe(2);
    expect(connector.notes.get('not-upstream')).toBe('written once');
    const audit = await auditOf(view.id);
    const after = audit.slice(audit.findIndex((e) => e.kind === 'execution.resolved'));
    expect(after.map((e) => e.kind)).toEqual(['execution.resolved', 'grant.minted', 'execution.started', 'execution.succeeded']);
    expect(after[0]!.data).toMatchObject({ decision: 'run_again', reason: 'no note upstream', evidenceKind: 'webauthn', digest: view.digest });
    expect(after[2]!.data).toMatchObject({ attempt: 2 });
    expect(await verifyStored(stack.services.database.db, [stack.services.auditSigner.verifierKey])).toMatchObject({ ok: true });
  });
});
