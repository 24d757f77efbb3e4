import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { CallToolResultSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { launchBrowser, screenshot } from '../support/browser.ts';
import { startStack, type Stack } from '../support/harness.ts';
import { createTestConnector, type TestConnector } from '../support/test-connector.ts';
import { connectClient } from '../support/mcp-client.ts';
import { auditKinds, decideOnPage, enrollInBrowser, getRequest, waitForInbox, type BrowserApprover } from './approve-support.ts';

/**
 * The approval ceremony end to end: a real MCP SDK client's call is held while a person approves or rejects it on
 * the phone-sized page with a passkey (CDP virtual authenticator, user verification on), and the call completes.
 */

const CONFIG = `
holdSeconds: 20
roles:
  finance: [fin1@example.com, fin2@example.com]
policy:
  default: approve
  rules:
    - id: reads
      tools: [test_read_note]
      decision: allow
    - id: shared-notes-need-two
      tools: [test_write_note]
      when: args.key == "shared"
      decision: approve
      approvers: { role: finance, count: 2 }
      reason: shared notes are read by the whole company
    - id: drafts-expire-fast
      tools: [test_write_note]
      when: args.key == "draft"
      decision: approve
      expires: 3s
    - id: writes-need-owner
      tools: [test_write_note]
      decision: approve
      reason: the owner decides what their agent writes
`;

let stack: Stack;
let connector: TestConnector;
let browser: Browser;
let client: Client;
let owner: BrowserApprover;

const text = (result: CallToolResult) => result.content.map((c) => (c.type === 'text' ? c.text : '')).join('\n');
const call = (name: string, args: Record<string, string>) =>
  client.callTool({ name, arguments: args }, CallToolResultSchema, { timeout: 60_000 }) as Promise<CallToolResult>;

beforeAll(async () => {
  connector = createTestConnector();
  stack = await startStack({ config: CONFIG, connectors: [connector] });
  const { token } = await stack.addAgent('notes-agent', 'owner@example.com');
  client = await connectClient(stack.url, token);
  browser = await launchBrowser();
  owner = await enrollInBrowser(browser, stack, 'owner@example.com');
});

afterAll(async () => {
  await client?.close();
  await browser?.close();
  await stack?.close();
});

describe('approving on the page releases the held MCP call', () => {
  it('holds the call, shows the request in the live inbox, and completes with the upstream result after "Approve"', async () => {
    await owner.page.goto(`${stack.url}/`);
    await owner.page.waitForSelector('body[data-live="true"]');
    const held = call('test_write_note', { key: 'groceries', text: 'milk, eggs' });
    const pending = await waitForInbox(stack, owner.id);
    // The inbox updates itself over server-sent events: no reload.
    await owner.page.waitForSelector(`#inbox li[data-id="${pending.id}"]`);
    await expect(owner.page.locator(`#inbox li[data-id="${pending.id}"] .summary`).textContent()).resolves.toBe('Write note "groceries" (10 characters)');
    await screenshot(owner.page, 'approve-inbox-390x844');

    await owner.page.goto(`${stack.url}/requests/${pending.id}`);
    await expect(owner.page.locator('#quorum').textContent()).resolves.toContain('0 of 1 approval');
    await expect(owner.page.locator('#rule').textContent()).resolves.toContain('writes-need-owner');
    await expect(owner.page.locator('#agent-words h2').textContent()).resolves.toBe('Written by the agent — not verified');
    await expect(owner.page.locator('#countdown').textContent()).resolves.toMatch(/left$/);
    await screenshot(owner.page, 'approve-request-390x844');

    const outcome = await decideOnPage(owner.page, stack.url, pending.id, 'approve');
    expect(outcome.outcome).toBe('approved');
    expect(outcome.text).toContain('Approved');
    const result = await held;
    expect(result.isError).toBeFalsy();
    expect(text(result)).toContain('Wrote note "groceries"');
    expect(connector.notes.get('groceries')).toBe('milk, eggs');
    const decided = await auditKinds(stack, pending.id, 'approval.decided');
    expect(decided).toHaveLength(1);

    // Decided requests are read-only, and the inbox moved it to history.
    await owner.page.goto(`${stack.url}/requests/${pending.id}`);
    await expect(owner.page.locator('#final').getAttribute('data-state')).resolves.toMatch(/approved|executing|succeeded/);
    expect(await owner.page.locator('#approve').count()).toBe(0);
    await owner.page.goto(`${stack.url}/`);
    await owner.page.waitForSelector(`#history li[data-id="${pending.id}"]`);
  });

  it('"Reject" with a reason: the agent receives the rejection and the reason, nothing runs', async () => {
    const before = connector.executions.length;
    const held = call('test_write_note', { key: 'todo', text: 'delete the backups' });
    const pending = await waitForInbox(stack, owner.id);
    const outcome = await decideOnPage(owner.page, stack.url, pending.id, 'reject', 'Not the backups, please.');
    expect(outcome.outcome).toBe('rejected');
    const result = await held;
    expect(result.isError).toBe(true);
    expect(text(result)).toContain('Not the backups, please.');
    expect(connector.executions.length).toBe(before);
    await expect(getRequest(stack, pending.id)).resolves.toMatchObject({ state: 'rejected' });
  });

  it('two-person rule: one approval leaves it pending at "1 of 2", the same approver again does not count, a second completes it', async () => {
    const fin1 = await enrollInBrowser(browser, stack, 'fin1@example.com');
    const fin2 = await enrollInBrowser(browser, stack, 'fin2@example.com');
    const held = call('test_write_note', { key: 'shared', text: 'Q3 numbers' });
    const pending = await waitForInbox(stack, fin1.id);

    const first = await decideOnPage(fin1.page, stack.url, pending.id, 'approve');
    expect(first.outcome).toBe('pending');
    expect(first.text).toContain('1 of 2');
    await fin1.page.goto(`${stack.url}/requests/${pending.id}`);
    await expect(fin1.page.locator('#quorum').textContent()).resolves.toContain('1 of 2 approvals');
    // No second button for the same person; the kernel also refuses a second decision from them (see attacks test).
    expect(await fin1.page.locator('#approve').count()).toBe(0);
    await expect(fin1.page.locator('#already').textContent()).resolves.toContain('Waiting for 1 more approval');
    await expect(getRequest(stack, pending.id)).resolves.toMatchObject({ state: 'pending' });

    const second = await decideOnPage(fin2.page, stack.url, pending.id, 'approve');
    expect(second.outcome).toBe('approved');
    const result = await held;
    expect(result.isError).toBeFalsy();
    expect(text(result)).toContain('Wrote note "shared"');
  });

  it('expiry rejects: the held call ends with an error, and the page shows "Expired"', async () => {
    const held = call('test_write_note', { key: 'draft', text: 'maybe later' });
    const pending = await waitForInbox(stack, owner.id);
    // A stale page, as on a phone that lost its connection: without live updates the buttons stay after expiry.
    await owner.page.route('**/events?**', (route) => route.abort());
    await owner.page.goto(`${stack.url}/requests/${pending.id}`);
    await expect(owner.page.locator('#rule').textContent()).resolves.toContain('drafts-expire-fast');
    await owner.page.waitForFunction(() => document.getElementById('countdown')?.textContent === 'expired', null, { timeout: 10_000 });
    // Pressing "Approve" on the stale page is refused by the kernel with its reason.
    await owner.page.getByRole('button', { name: 'Approve' }).click();
    await owner.page.waitForSelector('#status[data-outcome="refused"]');
    await expect(owner.page.locator('#status').textContent()).resolves.toContain('expired');
    const result = await held;
    expect(result.isError).toBe(true);
    await owner.page.unroute('**/events?**');
    await owner.page.goto(`${stack.url}/requests/${pending.id}`);
    await expect(owner.page.locator('#final-text').textContent()).resolves.toContain('Expired');
    expect(await owner.page.locator('#approve').count()).toBe(0);
  });
});
