import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { createGithubConnector, startGithubSandbox, type GithubSandbox } from '../../tools/github/index.ts';
import { SEED } from '../../tools/github/sandbox/index.ts';
import { axeViolations, launchBrowser, PHONE, screenshot } from '../support/browser.ts';
import { startStack, type Stack } from '../support/harness.ts';
import { decideOnPage, enrollInBrowser, type BrowserApprover } from './approve-support.ts';

/**
 * The approver's phone after the decision (issue 15): when an approved request fails as it runs, the approver reads
 * the same reason the agent got, on the page they approved from and without a reload; and the pages hold up in the
 * phone's dark mode (real dark colours, axe-core's contrast rules clean).
 */

const CONFIG = `
holdSeconds: 1
roles:
  auditor: [owner@example.com]
policy:
  default: approve
`;


let sandbox: GithubSandbox;
let stack: Stack;
let browser: Browser;
let owner: BrowserApprover;
let agentId: string;

beforeAll(async () => {
  sandbox = await startGithubSandbox();
  const github = createGithubConnector({ token: 'ghp_PhoneOutcomesToken0000000000000000', baseUrl: sandbox.url, sandbox: true });
  stack = await startStack({ config: CONFIG, connectors: [github] });
  ({ agentId } = await stack.addAgent('phone-agent', 'owner@example.com'));
  browser = await launchBrowser();
  owner = await enrollInBrowser(browser, stack, 'owner@example.com');
});

afterAll(async () => {
  await browser?.close();
  await stack?.close();
  await sandbox?.close();
});

const axe = axeViolations;

/** Relative luminance (WCAG) of the page's effective background colour. */
const backgroundLuminance = (page: Page) =>
  page.evaluate(() => {
    const parse = (c: string) => (c.match(/[\d.]+/g) ?? []).map(Number);
    let [r, g, b, a] = parse(getComputedStyle(document.body).backgroundColor);
    if (a === 0) [r, g, b] = parse(getComputedStyle(document.documentElement).backgroundColor);
    const lin = (v: number) => ((v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
    return 0.2126 * lin(r ?? 255) + 0.7152 * lin(g ?? 255) + 0.0722 * lin(b ?? 255);
  });

describe('after a failure', () => {
  it('the approver sees the reason the agent got, live, on the page they approved from', async () => {
    const merge = await stack.submit(agentId, 'github_merge_pull_request', { owner: 'acme', repo: 'web', pull_number: 42, sha: SEED.prHeadSha });
    expect(merge.state).toBe('pending');
    const page = owner.page;
    await page.goto(`${stack.url}/requests/${merge.id}`);
    await page.waitForSelector('body[data-live="true"]');
    // Someone pushes to the branch after the request was described: the executor refuses on the moved head.
    sandbox.state.movePrHead(42, 'c'.repeat(40));
    const decided = await decideOnPage(page, stack.url, merge.id, 'approve');
    expect(decided.outcome).toBe('approved');
    await page.waitForSelector('#final[data-state="failed"]', { timeout: 30_000 });

    const agentSaw = await stack.awaitRequest(agentId, merge.id);
    expect(agentSaw.state).toBe('failed');
    expect(agentSaw.error?.code).toBe('pin_drift');
    const shown = (await page.locator('#failure').textContent()) ?? '';
    expect(shown).toContain('What the agent was told:');
    expect(shown).toContain(agentSaw.error!.message);
    expect(shown).toContain('ccccccc');
    await expect(page.locator('#final-text').textContent()).resolves.toContain('failed');
    // The message under the buttons no longer says it runs now.
    await page.waitForFunction(() => /failed when it ran/.test(document.getElementById('status')?.textContent ?? ''), null, { timeout: 10_000 });
    await screenshot(page, 'phone-merge-failed-390x844');
    sandbox.state.movePrHead(42, SEED.prHeadSha);
  });
});

describe('dark mode', () => {
  it('follows prefers-color-scheme: dark on the inbox, a request and the audit pages, and axe-core stays clean', async () => {
    const pending = await stack.submit(agentId, 'github_create_issue', { owner: 'acme', repo: 'web', title: 'Dark mode: the chart legend is unreadable' });
    const dark = await browser.newContext({ viewport: PHONE, colorScheme: 'dark', storageState: await owner.page.context().storageState() });
    const light = await browser.newContext({ viewport: PHONE, colorScheme: 'light', storageState: await owner.page.context().storageState() });
    const found: string[] = [];
    try {
      const darkPage = await dark.newPage();
      const lightPage = await light.newPage();
      for (const path of ['/', `/requests/${pending.id}`, '/devices', '/audit', `/audit/requests/${pending.id}`]) {
        await darkPage.goto(`${stack.url}${path}`);
        await lightPage.goto(`${stack.url}${path}`);
        const [dim, bright] = [await backgroundLuminance(darkPage), await backgroundLuminance(lightPage)];
        // A dark page really is dark (near black background), and differs from the light one.
        if (!(dim < 0.05)) found.push(`${path}: dark background luminance ${dim.toFixed(3)}`);
        if (!(bright > 0.8)) found.push(`${path}: light background luminance ${bright.toFixed(3)}`);
        found.push(...(await axe(darkPage)).map((v) => `dark ${path}: ${v}`));
        const name = path === '/' ? 'inbox' : path.replace(/^\//, '').replace(/\/[A-Za-z0-9_-]{16,}$/, '-one').replace(/\//g, '-');
        await screenshot(darkPage, `dark-${name}-390x844`);
      }
    } finally {
      await dark.close();
      await light.close();
    }
    expect(found).toEqual([]);
  });
});
