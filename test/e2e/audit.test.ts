import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'drizzle-orm';
import type { Browser, Page } from 'playwright-core';
import type { JsonObject, RequestView } from '../../kernel/index.ts';
import { createInvite } from '../../approval-web/index.ts';
import { createTestConnector } from '../support/test-connector.ts';
import { INITIALIZE, rawPost } from '../support/mcp-client.ts';
import { startStack, type Stack } from '../support/harness.ts';
import { addVirtualAuthenticator, launchBrowser, phoneContext, screenshot } from '../support/browser.ts';

/** The audit dashboard in Chromium on a whole stack: filter, timeline, tamper banner, revocation with a passkey. */

const CONFIG = `
roles:
  auditor: [jane@example.com]
policy:
  default: approve
  rules:
    - id: reads-ok
      tools: [test_read_note]
      decision: allow
    - id: writes-need-owner
      tools: [test_write_note]
      decision: approve
`;
const EMAIL = 'jane@example.com';

let stack: Stack;
let browser: Browser;
let page: Page;
let token: string;
let writeId: string;

beforeAll(async () => {
  stack = await startStack({ config: CONFIG, connectors: [createTestConnector()] });
  browser = await launchBrowser();
  const agent = await stack.addAgent('note-bot', EMAIL);
  token = agent.token;
  const submit = (tool: string, args: JsonObject) =>
    stack.port.send<RequestView & JsonObject>('kernel', { op: 'request.submit', agentId: agent.agentId, tool, args });
  for (const key of ['welcome', 'alpha', 'beta']) await submit('test_read_note', { key });
  writeId = (await submit('test_write_note', { key: 'plan', text: 'ship it' })).id;
  await stack.services.audit.sync();

  // Enroll Jane in the browser, so her passkey lives in Chromium's virtual authenticator; she is then signed in.
  page = await (await phoneContext(browser)).newPage();
  await addVirtualAuthenticator(page);
  const invite = await createInvite(stack.services.database.db, { email: EMAIL, publicUrl: stack.url });
  await page.goto(invite.url);
  await page.getByRole('button', { name: 'Create passkey' }).click();
  await page.waitForURL(`${stack.url}/`);
});

afterAll(async () => {
  await browser?.close();
  await stack?.close();
});

describe('audit dashboard in Chromium', () => {
  it('filters the request list with a GET form and opens a timeline', async () => {
    await page.getByRole('link', { name: 'Audit' }).click();
    await page.waitForURL(`${stack.url}/audit`);
    await expect(page.locator('#requests tbody tr').count()).resolves.toBe(4);
    await expect(page.locator('#chain-status').textContent()).resolves.toMatch(/verified up to entry \d+/);
    // On a phone the filters sit folded under the summary and charts.
    await page.locator('#filters > summary').click();
    await page.getByRole('textbox', { name: 'Tool', exact: true }).fill('test_write_note');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.waitForURL(/tool=test_write_note/);
    await expect(page.locator('#requests tbody tr').count()).resolves.toBe(1);
    await expect(page.locator('svg[role="img"]').count()).resolves.toBeGreaterThanOrEqual(2);
    await screenshot(page, 'audit-list-390x844');

    await page.locator(`#requests tr[data-id="${writeId}"] a`).click();
    await page.waitForURL(`${stack.url}/audit/requests/${writeId}`);
    const kinds = await page.locator('#timeline li').evaluateAll((items) => items.map((li) => li.getAttribute('data-kind')));
    expect(kinds).toEqual(['request.received', 'policy.decided']);
    await expect(page.locator('#timeline li').first().textContent()).resolves.toMatch(/Digest[0-9a-f]{64}/);
    await expect(page.locator('#timeline li').nth(1).textContent()).resolves.toContain('writes-need-owner');
    await screenshot(page, 'audit-timeline-390x844');
  });

  it('names the edited entry in a red banner after one stored entry is tampered with', async () => {
    const reader = stack.services.router.register('test.audit-e2e', async () => null, ['audit:*']);
    const timeline = await reader.send<{ entries: { seq: number; kind: string }[] }>('audit', { op: 'audit.timeline', requestId: writeId });
    const victim = timeline.entries.find((e) => e.kind === 'policy.decided');
    expect(victim).toBeDefined();
    await stack.services.database.db.execute(sql`update audit_entries set data = jsonb_set(data::jsonb, '{reason}', '"nothing to see"') where seq = ${victim!.seq}`);
    await page.goto(`${stack.url}/audit?recheck=1`);
    const banner = page.locator('#chain-status');
    await expect(banner.textContent()).resolves.toContain(`BROKEN at entry ${victim!.seq}`);
    await expect(banner.getAttribute('class')).resolves.toContain('broken');
    await screenshot(page, 'audit-broken-390x844');
  });

  it('revokes an agent only after a fresh passkey assertion, and its MCP calls are refused at once', async () => {
    const before = await rawPost(stack.url, INITIALIZE, { authorization: `Bearer ${token}` });
    expect(before.status).toBe(200);
    await page.goto(`${stack.url}/audit/people`);
    // Without an assertion the server refuses: a forged confirm post does nothing.
    const forged = await page.evaluate(async () => {
      const csrf = document.querySelector<HTMLMetaElement>('meta[name="csrf-token"]')!.content;
      const response = await fetch('/audit/people/confirm', {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json', 'x-csrf-token': csrf },
        body: JSON.stringify({ challengeId: 'made-up', action: 'revoke', target: 'note-bot', response: { id: 'x', type: 'public-key' } }),
      });
      return response.status;
    });
    expect(forged).toBe(403);
    expect((await rawPost(stack.url, INITIALIZE, { authorization: `Bearer ${token}` })).status).toBe(200);

    await page.getByRole('button', { name: 'Revoke note-bot' }).click();
    await page.waitForFunction(() => /revoked/.test(document.getElementById('status')?.textContent ?? ''));
    const after = await rawPost(stack.url, INITIALIZE, { authorization: `Bearer ${token}` });
    expect(after.status).toBe(401);
    await page.waitForSelector('[data-agent="note-bot"] .revoked');
    await screenshot(page, 'audit-people-390x844');
  });
});
