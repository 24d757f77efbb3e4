import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { JsonObject, RequestView } from '../../kernel/index.ts';
import { SEED as GITHUB } from '../../tools/github/sandbox/index.ts';
import { SEED as STRIPE } from '../../tools/stripe/sandbox/index.ts';
import { fingerprint } from '../../approval-web/hygiene.ts';
import { axeViolations, launchBrowser, PHONE, screenshot } from '../support/browser.ts';
import { startStack, type Stack } from '../support/harness.ts';
import { decideOnPage, enrollInBrowser, type BrowserApprover } from './approve-support.ts';
import { pairEmulator, type Emulator } from './hygiene-support.ts';

/**
 * The approver's phone (issue 15), in Chromium on the sandboxed GitHub and Stripe connectors: the decision fits the
 * first screen at 390x844 and at 1280x800, pins are typed, the digest's fingerprint matches the Passport's, counts
 * update live when someone else decides, deep links survive sign-in, and axe-core finds nothing on any page.
 * Screenshots of every page at both sizes land in test-output/screenshots/.
 */

const CONFIG = `
holdSeconds: 1
roles:
  maintainers: [owner@example.com, second@example.com]
  auditor: [owner@example.com]
policy:
  default: approve
  rules:
    - id: merges-need-two
      tools: [github_merge_pull_request]
      decision: approve
      approvers: { role: maintainers, count: 2 }
      reason: merges into main need two maintainers
`;

const DESKTOP = { width: 1280, height: 800 } as const;

let stack: Stack;
let browser: Browser;
let owner: BrowserApprover;
let desktop: BrowserContext;
let agentId: string;
let emulator: Emulator;
const pages: Record<'merge' | 'refund' | 'issue', RequestView> = {} as never;

const submit = (tool: string, args: JsonObject) => stack.submit(agentId, tool, args);

beforeAll(async () => {
  stack = await startStack({ config: CONFIG });
  ({ agentId } = await stack.addAgent('phone-agent', 'owner@example.com'));
  browser = await launchBrowser();
  owner = await enrollInBrowser(browser, stack, 'owner@example.com');
  // The same person at a desk: the phone's session in a desktop-sized window.
  desktop = await browser.newContext({ viewport: DESKTOP, locale: 'en-US', storageState: await owner.page.context().storageState() });
  pages.merge = await submit('github_merge_pull_request', { owner: 'acme', repo: 'web', pull_number: 42, sha: GITHUB.prHeadSha });
  pages.refund = await submit('stripe_create_refund', { charge: STRIPE.janeCharge, amount: 10_000 });
  pages.issue = await submit('github_create_issue', {
    owner: 'acme',
    repo: 'web',
    title: 'Login redirect loops on Safari when the session cookie expires',
    body: 'Steps: sign in, wait 12 hours, reload. Expected: the sign-in page. Actual: a redirect loop.',
  });
});

afterAll(async () => {
  emulator?.close();
  await desktop?.close();
  await browser?.close();
  await stack?.close();
});

/** The element's box lies wholly inside the viewport, with the page not scrolled. */
async function inFirstScreen(page: Page, selector: string): Promise<{ box: { x: number; y: number; width: number; height: number } | null; scrollY: number }> {
  const box = await page.locator(selector).boundingBox();
  return { box, scrollY: await page.evaluate(() => window.scrollY) };
}

const axe = axeViolations;

describe('the decision in the first screen', () => {
  for (const name of ['merge', 'refund', 'issue'] as const) {
    it(`${name}: Approve lies inside the first viewport at 390x844 and at 1280x800, nothing overflows sideways`, async () => {
      for (const [label, page, size] of [
        ['390x844', owner.page, PHONE],
        ['1280x800', await desktop.newPage(), DESKTOP],
      ] as const) {
        await page.goto(`${stack.url}/requests/${pages[name].id}`);
        const { box, scrollY } = await inFirstScreen(page, '#approve');
        expect(scrollY).toBe(0);
        expect(box, `${name} at ${label}: #approve has a box`).not.toBeNull();
        expect(box!.y).toBeGreaterThanOrEqual(0);
        expect(box!.x).toBeGreaterThanOrEqual(0);
        expect(box!.y + box!.height).toBeLessThanOrEqual(size.height);
        expect(box!.x + box!.width).toBeLessThanOrEqual(size.width);
        expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(size.width);
        await page.screenshot({ path: await screenshot(page, `phone-${name}-${label}`).then((p) => p.replace(/\.png$/, '-first-screen.png')) });
        if (page !== owner.page) await page.close();
      }
    });
  }
});

describe('who and what next, live', () => {
  it('counts and names update without a reload when a second approver decides in another browser', async () => {
    // Both maintainers are enrolled: the page names the people who hold the role and can decide.
    const second = await enrollInBrowser(browser, stack, 'second@example.com');
    const merge = await submit('github_merge_pull_request', { owner: 'acme', repo: 'web', pull_number: 42, sha: GITHUB.prHeadSha });
    const page = owner.page;
    await page.goto(`${stack.url}/requests/${merge.id}`);
    await page.waitForSelector('body[data-live="true"]');
    await expect(page.locator('#quorum').textContent()).resolves.toContain('0 of 2 approvals');
    await expect(page.locator('#people li').allTextContents()).resolves.toEqual([
      expect.stringContaining('owner@example.com has not decided'),
      expect.stringContaining('second@example.com has not decided'),
    ]);
    await page.evaluate(() => ((window as { unreloaded?: boolean }).unreloaded = true));

    const decided = await decideOnPage(second.page, stack.url, merge.id, 'approve');
    expect(decided.outcome).toBe('pending');
    await page.waitForFunction(() => /^1 of 2 approvals/.test(document.getElementById('quorum')?.textContent ?? ''), null, { timeout: 30_000 });
    await expect(page.locator('#people li[data-decision="approve"]').textContent()).resolves.toContain('second@example.com approved');
    await expect(page.locator('#needed').textContent()).resolves.toContain('1 more needed');
    expect(await page.evaluate(() => (window as { unreloaded?: boolean }).unreloaded)).toBe(true);
    await screenshot(page, 'phone-merge-live-390x844');

    // The owner's approval completes it; the page follows it to "ran" and names the merge commit, still unreloaded.
    await page.locator('#approve').click();
    await page.waitForSelector('#status[data-outcome]');
    await page.waitForSelector('#final[data-state="succeeded"]', { timeout: 30_000 });
    await expect(page.locator('#outcome').textContent()).resolves.toContain('Merged PR #42');
    expect(await page.evaluate(() => (window as { unreloaded?: boolean }).unreloaded)).toBe(true);
    await second.page.context().close();
  });

  it('after execution the page links to what it made upstream', async () => {
    const page = owner.page;
    const outcome = await decideOnPage(page, stack.url, pages.issue.id, 'approve');
    expect(outcome.outcome).toBe('approved');
    await page.waitForSelector('#final[data-state="succeeded"]', { timeout: 30_000 });
    const link = page.locator('#upstream-link');
    await expect(link.getAttribute('href')).resolves.toMatch(/^https:\/\/github\.com\/acme\/web\/issues\/\d+$/);
    await expect(link.textContent()).resolves.toBe('Open it on github.com');
    await screenshot(page, 'phone-issue-succeeded-390x844');
  });
});

describe('the inbox tells requests apart', () => {
  it('shows each card\'s key field, grouped by urgency, at both sizes', async () => {
    const first = await submit('github_create_issue', { owner: 'acme', repo: 'web', title: 'Dark mode toggle resets on reload' });
    const other = await submit('github_create_issue', { owner: 'acme', repo: 'web', title: 'Export to CSV drops the last row' });
    const page = owner.page;
    await page.goto(`${stack.url}/`);
    const card = (id: string) => page.locator(`#inbox li[data-id="${id}"]`);
    await expect(card(first.id).locator('.key').textContent()).resolves.toContain('Dark mode toggle resets on reload');
    await expect(card(other.id).locator('.key').textContent()).resolves.toContain('Export to CSV drops the last row');
    await expect(card(first.id).locator('.key').textContent()).resolves.toContain('written by the agent');
    await expect(card(pages.refund.id).locator('.key').textContent()).resolves.toContain('100.00 USD');
    await expect(page.locator('#inbox section.group h2').first().textContent()).resolves.toMatch(/^Expiring/);
    await screenshot(page, 'phone-inbox-390x844');
    const wide = await desktop.newPage();
    await wide.goto(`${stack.url}/`);
    await screenshot(wide, 'phone-inbox-1280x800');
    await wide.close();
  });
});

describe('typed pins and the fingerprint', () => {
  it('shows pins as money, commits and words, and the fingerprint the Passport shows', async () => {
    const page = owner.page;
    await page.goto(`${stack.url}/requests/${pages.refund.id}`);
    const pins = (await page.locator('#pins').textContent()) ?? '';
    expect(pins).toContain('Charge amount');
    expect(pins).toContain('120.00 USD');
    expect(pins).toContain('Already refunded');
    expect(pins).toContain('0.00 USD');
    expect(pins).not.toMatch(/\b12000\b/);
    const print = fingerprint(pages.refund.digest);
    expect(print).toMatch(/^[0-9A-F]{4}( [0-9A-F]{4}){4}$/);
    await expect(page.locator('#status-line .fingerprint').textContent()).resolves.toBe(print);

    await page.goto(`${stack.url}/requests/${pages.merge.id}`);
    const merge = page.locator('#pins');
    await expect(merge.locator('[data-pin="head_sha"] dt').textContent()).resolves.toBe('Head commit');
    await expect(merge.locator('[data-pin="head_sha"] .commit .short').textContent()).resolves.toBe(GITHUB.prHeadSha.slice(0, 7));
    await expect(merge.locator('[data-pin="head_sha"] button.copy').getAttribute('data-copy')).resolves.toBe(GITHUB.prHeadSha);
    await expect(merge.locator('[data-pin="checks"] dt').textContent()).resolves.toBe('Checks');

    emulator = await pairEmulator(stack, 'owner@example.com');
    const screen = await emulator.showInbox();
    expect(screen).toContain(`│ fingerprint ${print} (the web page shows the same)`);
  });
});

describe('accessibility', () => {
  it('axe-core finds no WCAG 2.2 AA violation on any page, at either size', async () => {
    const audited = pages.refund.id;
    const paths = ['/', `/requests/${pages.merge.id}`, `/requests/${pages.refund.id}`, `/requests/${pages.issue.id}`, '/devices', '/audit', `/audit/requests/${audited}`, '/audit/people'];
    const found: string[] = [];
    for (const [label, page] of [
      ['390x844', owner.page],
      ['1280x800', await desktop.newPage()],
    ] as const) {
      for (const path of paths) {
        await page.goto(`${stack.url}${path}`);
        found.push(...(await axe(page)).map((v) => `${label} ${path}: ${v}`));
        const width = await page.evaluate(() => document.documentElement.scrollWidth);
        if (width > (label === '390x844' ? PHONE.width : DESKTOP.width)) found.push(`${label} ${path}: ${width}px wide, wider than the screen`);
        const name = path === '/' ? 'inbox' : path.replace(/^\//, '').replace(/\/[A-Za-z0-9_-]{16,}$/, '').replace(/\//g, '-');
        await screenshot(page, `page-${name}-${label}`);
      }
      if (page !== owner.page) await page.close();
    }
    expect(found).toEqual([]);
  });
});

describe('deep links survive sign-in', () => {
  it('a signed-out approver who opens a request link lands on that request after signing in', async () => {
    const page = owner.page;
    await page.goto(`${stack.url}/`);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(`${stack.url}/signin`);
    await page.goto(`${stack.url}/requests/${pages.refund.id}`);
    await page.waitForURL(`${stack.url}/signin?next=${encodeURIComponent(`/requests/${pages.refund.id}`)}`);
    expect(await axe(page)).toEqual([]);
    await screenshot(page, 'page-signin-390x844');
    await page.getByRole('button', { name: 'Sign in with passkey' }).click();
    await page.waitForURL(`${stack.url}/requests/${pages.refund.id}`);
    await expect(page.locator('#summary').textContent()).resolves.toContain('Refund');
    // A link elsewhere is not followed: only paths on this site.
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.goto(`${stack.url}/signin?next=${encodeURIComponent('//evil.example/x')}`);
    await page.getByRole('button', { name: 'Sign in with passkey' }).click();
    await page.waitForURL(`${stack.url}/`);
  });
});
