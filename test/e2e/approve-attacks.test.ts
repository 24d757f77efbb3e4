import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { eq } from 'drizzle-orm';
import { schema, type JsonObject, type RequestView } from '../../kernel/index.ts';
import { launchBrowser, screenshot } from '../support/browser.ts';
import { startStack, type Stack } from '../support/harness.ts';
import { createTestConnector } from '../support/test-connector.ts';
import { assertInPage, auditKinds, enrollInBrowser, getRequest, postDecide, type BrowserApprover } from './approve-support.ts';

/**
 * Attacks on the approval ceremony, each refused by the kernel's evidence check (and audited as approval.refused)
 * or by the web app's origin check, and display hygiene on hostile arguments, in Chromium at 390x844.
 */

const CONFIG = `
holdSeconds: 1
roles:
  finance: [fin1@example.com, fin2@example.com]
policy:
  default: approve
  rules:
    - id: shared-notes-need-two
      tools: [test_write_note]
      when: args.key == "shared"
      decision: approve
      approvers: { role: finance, count: 2 }
    - id: writes-need-owner
      tools: [test_write_note]
      decision: approve
`;

let stack: Stack;
let browser: Browser;
let owner: BrowserApprover;
let fin1: BrowserApprover;
let agentId: string;

async function submit(key: string, text: string): Promise<RequestView> {
  return stack.port.send<RequestView & JsonObject>('kernel', { op: 'request.submit', agentId, tool: 'test_write_note', args: { key, text } });
}

beforeAll(async () => {
  stack = await startStack({ config: CONFIG, connectors: [createTestConnector()] });
  ({ agentId } = await stack.addAgent('notes-agent', 'owner@example.com'));
  browser = await launchBrowser();
  owner = await enrollInBrowser(browser, stack, 'owner@example.com');
  fin1 = await enrollInBrowser(browser, stack, 'fin1@example.com');
});

afterAll(async () => {
  await browser?.close();
  await stack?.close();
});

describe('attacks on the ceremony are refused and audited', () => {
  it('a captured assertion replayed is refused; so is a second decision by the same approver', async () => {
    const request = await submit('shared', 'Q4 plan');
    await fin1.page.goto(`${stack.url}/requests/${request.id}`);
    const response = await assertInPage(fin1.page, request.id, 'approve');
    const first = await postDecide(fin1.page, request.id, { decision: 'approve', reason: null, response });
    expect(first.status).toBe(200);
    expect(first.reply.state).toBe('pending');

    const replay = await postDecide(fin1.page, request.id, { decision: 'approve', reason: null, response });
    expect(replay.status).toBe(403);
    expect(replay.reply.error?.code).toBe('evidence_refused');

    // A fresh, genuine assertion from the same person still does not make two approvals.
    const again = await assertInPage(fin1.page, request.id, 'approve');
    const twice = await postDecide(fin1.page, request.id, { decision: 'approve', reason: null, response: again });
    expect(twice.status).toBe(403);
    expect(twice.reply.error?.message).toContain('already decided');
    await expect(getRequest(stack, request.id)).resolves.toMatchObject({ state: 'pending' });
    expect(await auditKinds(stack, request.id, 'approval.decided')).toHaveLength(1);
    expect((await auditKinds(stack, request.id, 'approval.refused')).length).toBeGreaterThanOrEqual(2);
  });

  it('an assertion made for request X and posted for request Y is refused', async () => {
    const x = await submit('x-note', 'for X');
    const y = await submit('y-note', 'for Y');
    await owner.page.goto(`${stack.url}/requests/${x.id}`);
    const forX = await assertInPage(owner.page, x.id, 'approve');
    const posted = await postDecide(owner.page, y.id, { decision: 'approve', reason: null, response: forX });
    expect(posted.status).toBe(403);
    expect(posted.reply.error?.code).toBe('evidence_refused');
    // An approval for "reject" does not count as "approve" either.
    const forReject = await assertInPage(owner.page, y.id, 'reject');
    const flipped = await postDecide(owner.page, y.id, { decision: 'approve', reason: null, response: forReject });
    expect(flipped.status).toBe(403);
    await expect(getRequest(stack, y.id)).resolves.toMatchObject({ state: 'pending', approvals: [] });
    expect((await auditKinds(stack, y.id, 'approval.refused')).length).toBe(2);
  });

  it('an assertion without user verification is refused', async () => {
    const request = await submit('uv-note', 'no UV');
    await owner.page.goto(`${stack.url}/requests/${request.id}`);
    await owner.authenticator.cdp.send('WebAuthn.setUserVerified', { authenticatorId: owner.authenticator.id, isUserVerified: false });
    try {
      const response = await assertInPage(owner.page, request.id, 'approve', 'discouraged');
      const flags = Buffer.from(String((response.response as { authenticatorData: string }).authenticatorData), 'base64url')[32];
      expect(flags & 0x04).toBe(0); // the UV bit is off
      const posted = await postDecide(owner.page, request.id, { decision: 'approve', reason: null, response });
      expect(posted.status).toBe(403);
      expect(posted.reply.error?.code).toBe('evidence_refused');
    } finally {
      await owner.authenticator.cdp.send('WebAuthn.setUserVerified', { authenticatorId: owner.authenticator.id, isUserVerified: true });
    }
    await expect(getRequest(stack, request.id)).resolves.toMatchObject({ state: 'pending', approvals: [] });
    expect(await auditKinds(stack, request.id, 'approval.refused')).toHaveLength(1);
  });

  it('a cross-site POST is refused before it reaches the kernel', async () => {
    const request = await submit('csrf-note', 'cross site');
    await owner.page.goto(`${stack.url}/requests/${request.id}`);
    const response = await assertInPage(owner.page, request.id, 'approve');
    const cookies = await owner.page.context().cookies(stack.url);
    const cookie = cookies.map((c) => `${c.name}=${c.value}`).join('; ');
    const csrf = await owner.page.locator('meta[name="csrf-token"]').getAttribute('content');
    // Even holding the victim's cookie and CSRF token, a post from another origin is refused.
    const crossSite = await fetch(`${stack.url}/requests/${request.id}/decide`, {
      method: 'POST',
      headers: { cookie, origin: 'https://evil.example', 'content-type': 'application/json', accept: 'application/json', 'x-csrf-token': csrf ?? '' },
      body: JSON.stringify({ decision: 'approve', reason: null, response }),
    });
    expect(crossSite.status).toBe(403);
    await expect(crossSite.json()).resolves.toMatchObject({ error: { code: 'cross_origin' } });
    // A form post from another site's page (the browser sends no cookie: SameSite=Strict; and no CSRF token).
    const evil = await owner.page.context().newPage();
    await evil.goto('about:blank');
    const status = await evil.evaluate(async (url) => {
      const r = await fetch(url, { method: 'POST', mode: 'cors', credentials: 'include', body: 'decision=approve' }).catch(() => null);
      return r ? r.status : 0;
    }, `${stack.url}/requests/${request.id}/decide`);
    expect([0, 403]).toContain(status);
    await expect(getRequest(stack, request.id)).resolves.toMatchObject({ state: 'pending', approvals: [] });
    expect(await auditKinds(stack, request.id, 'approval.decided')).toHaveLength(0);
    // The refusal is audited (counted per second, without the body).
    await new Promise((r) => setTimeout(r, 1300));
    await stack.services.audit.sync();
    const edge = await stack.services.database.db.select().from(schema.auditEntries).where(eq(schema.auditEntries.kind, 'edge.refused.cross_origin'));
    expect(edge.length).toBeGreaterThanOrEqual(1);
    expect(JSON.stringify(edge)).toContain('evil.example');
    // The genuine assertion still works from the real page: nothing above consumed it.
    const genuine = await postDecide(owner.page, request.id, { decision: 'approve', reason: null, response });
    expect(genuine.status).toBe(200);
  });
});

describe('hostile arguments are shown escaped, flagged and complete', () => {
  it('HTML, script, markdown images, U+202E, zero-width characters and 10,000 characters', async () => {
    const head = '<b>bold</b><script>window.__pwned = true</script><img src=x onerror="window.__pwned=true">![pixel](https://evil.example/p.png) invoice\u202Efdp.exe pay\u200Bpal ';
    const text = head + 'A'.repeat(10_000 - head.length);
    const request = await submit('p\u0430ypal', text);
    const page = owner.page;
    await page.goto(`${stack.url}/requests/${request.id}`);

    // Nothing was interpreted: one script (the page's own module), no images, no injected markup.
    expect(await page.evaluate(() => (window as { __pwned?: boolean }).__pwned)).toBeUndefined();
    expect(await page.locator('script').count()).toBe(1);
    expect(await page.locator('img').count()).toBe(0);
    expect(await page.locator('b').count()).toBe(0);

    const words = page.locator('#agent-words');
    await expect(words.locator('h2').textContent()).resolves.toBe('Written by the agent — not verified');
    const value = words.locator('.value.block').first();
    await expect(value.locator('.shown').textContent()).resolves.toContain('<script>window.__pwned = true</script>');
    await expect(value.locator('.shown').textContent()).resolves.toContain('invoice⟨U+202E⟩fdp.exe pay⟨U+200B⟩pal');
    await expect(value.getAttribute('data-flags')).resolves.toBe('bidi invisible');
    expect(await value.locator('[data-flag="bidi"]').count()).toBe(1);
    await expect(value.locator('.truncated').textContent()).resolves.toContain('9,500 more characters');

    await screenshot(page, 'approve-hostile-390x844');
    const showAll = value.locator('details.show-all');
    await expect(showAll.locator('summary').textContent()).resolves.toBe('Show all (10,000 characters)');
    await showAll.locator('summary').click();
    const full = (await showAll.locator('.full').textContent()) ?? '';
    expect(full.replace('⟨U+202E⟩', '\u202E').replace('⟨U+200B⟩', '\u200B')).toBe(text);
    // The look-alike note name is flagged where it is shown.
    await expect(page.locator('#fields dd .value').first().getAttribute('data-flags')).resolves.toContain('mixed-script');
  });
});
