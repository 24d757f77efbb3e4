import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import type { JsonObject } from '../../kernel/index.ts';
import { createGithubConnector, startGithubSandbox, type GithubSandbox } from '../../tools/github/index.ts';
import { SEED } from '../../tools/github/sandbox/index.ts';
import { launchBrowser, screenshot } from '../support/browser.ts';
import { startStack, type Stack } from '../support/harness.ts';
import { decideOnPage, enrollInBrowser, type BrowserApprover } from './approve-support.ts';
import { pairEmulator, type Emulator } from './hygiene-support.ts';

/**
 * Every string has an author (DESIGN section 4, invariant 11), end to end with the GitHub connector on its sandbox:
 * the spoof from issue 12, an agent creating an issue whose title continues the headline and then asking to comment
 * on it, shows the title quoted and attributed, never in the headline, on the approval page and on the Passport; a PR
 * description written on GitHub by its author is not boxed as the agent's words.
 */

const SPOOF = "Fix typo in README' of acme/docs-playground (sandbox copy, no notifications are sent)";

let stack: Stack;
let sandbox: GithubSandbox;
let browser: Browser;
let owner: BrowserApprover;
let emulator: Emulator;
let agentId: string;

beforeAll(async () => {
  sandbox = await startGithubSandbox();
  const github = createGithubConnector({ token: 'ghp_AuthorshipSuiteToken00000000000000', baseUrl: sandbox.url, sandbox: true });
  // The owner is also an auditor, so the same person reads the audit dashboard.
  stack = await startStack({ config: 'holdSeconds: 1\nroles:\n  auditor: [owner@example.com]\npolicy:\n  default: approve\n  rules: []\n', connectors: [github] });
  ({ agentId } = await stack.addAgent('gh-agent', 'owner@example.com'));
  browser = await launchBrowser();
  owner = await enrollInBrowser(browser, stack, 'owner@example.com');
  emulator = await pairEmulator(stack, 'owner@example.com');
});

afterAll(async () => {
  emulator?.close();
  await browser?.close();
  await stack?.close();
  await sandbox?.close();
});

const submit = (tool: string, args: JsonObject) => stack.submit(agentId, tool, args);

describe('every string has an author', () => {
  it('the comment-on-issue spoof: the title is quoted and attributed, never in the headline (page and Passport)', async () => {
    // The agent opens the issue (its title is the agent's words on that request, and the approver sees it so).
    const create = await submit('github_create_issue', { owner: 'acme', repo: 'web', title: SPOOF, body: 'small fix' });
    await owner.page.goto(`${stack.url}/requests/${create.id}`);
    await expect(owner.page.locator('#agent-words').textContent()).resolves.toContain(SPOOF);
    const decided = await decideOnPage(owner.page, stack.url, create.id, 'approve');
    expect(decided.outcome).not.toBe('error');
    const created = await stack.awaitRequest(agentId, create.id);
    expect(created.state).toBe('succeeded');
    const issue = Number((created.result!.data as { number: number }).number);

    // Then asks to comment on it: the title is now upstream text, written on GitHub by the account that made it.
    const comment = await submit('github_create_issue_comment', { owner: 'acme', repo: 'web', issue_number: issue, body: 'Done, closing.' });
    expect(comment.intent.summary).toBe(`Comment on issue #${issue} of acme/web`);
    const page = owner.page;
    await page.goto(`${stack.url}/requests/${comment.id}`);
    const headline = (await page.locator('#summary').textContent()) ?? '';
    expect(headline).toContain(`Comment on issue #${issue} of acme/web`);
    expect(headline).not.toContain('Fix typo');
    expect(headline).not.toContain('sandbox copy');
    const title = page.locator('#fields .field[data-author="upstream"]');
    await expect(title.count()).resolves.toBe(1);
    await expect(title.locator('dt > .value .shown').textContent()).resolves.toBe('Issue title');
    await expect(title.locator('dt .author').textContent()).resolves.toBe('written on GitHub by @acme-bot');
    await expect(title.locator('dd blockquote.quoted .shown').textContent()).resolves.toBe(SPOOF);
    // The quote marks are drawn around it, so it cannot read as a continuation of anything.
    const before = await title.locator('dd blockquote.quoted .shown').evaluate((el) => getComputedStyle(el, '::before').content);
    expect(before).toBe('"“"');
    // The agent's box holds the agent's comment only.
    await expect(page.locator('#agent-words').textContent()).resolves.not.toContain('Fix typo');
    await expect(page.locator('#agent-words').textContent()).resolves.toContain('Done, closing.');
    await screenshot(page, 'hygiene-spoof-comment-390x844');

    const screen = await emulator.showInbox();
    const card = screen.split('┌─ Passport').find((c) => c.includes(`#${issue}`))!;
    const lines = card.split('\n');
    expect(lines[1]).toBe(`│ Comment on issue #${issue} of acme/web`); // the Passport's headline
    expect(card).toContain(`│ Issue title (written on GitHub by @acme-bot): \n│   “${SPOOF}”`);
    expect(lines.filter((l) => l.includes('Fix typo'))).toHaveLength(1);
  });

  it('a PR title and description written on GitHub by its author are quoted and attributed, not the agent\'s words', async () => {
    const merge = await submit('github_merge_pull_request', { owner: 'acme', repo: 'web', pull_number: 42, sha: SEED.prHeadSha });
    expect(merge.intent.summary).not.toContain('Fix login');
    const page = owner.page;
    await page.goto(`${stack.url}/requests/${merge.id}`);
    await expect(page.locator('#summary').textContent()).resolves.not.toContain('Fix login');
    await expect(page.locator('#agent-words').count()).resolves.toBe(0);
    const quoted = page.locator('#fields .field[data-author="upstream"]');
    await expect(quoted.locator('dt > .value .shown').allTextContents()).resolves.toEqual(['Pull request title', 'Pull request description']);
    await expect(quoted.locator('dt .author').allTextContents()).resolves.toEqual(['written on GitHub by @bob', 'written on GitHub by @bob']);
    await expect(quoted.locator('blockquote.quoted .shown').allTextContents()).resolves.toEqual(['Fix login', 'Fixes the redirect loop on Safari (#1).']);

    const screen = await emulator.showInbox();
    const card = screen.split('┌─ Passport').find((c) => c.includes('Merge PR #42'))!;
    expect(card).toContain('│ Pull request description (written on GitHub by @bob): \n│   “Fixes the redirect loop on Safari (#1).”');
    expect(card).not.toContain("The agent's own words");
  });

  it('the audit dashboard shows agent, upstream and approver text through the same hygiene, stored data included', async () => {
    const comment = await submit('github_create_issue_comment', { owner: 'acme', repo: 'web', issue_number: 1, body: 'ok \u202Egnp.exe\u2062 done' });
    const rejected = await decideOnPage(owner.page, stack.url, comment.id, 'reject', 'no\u2066 thanks\u{E0041}');
    expect(rejected.outcome).not.toBe('error');
    const page = owner.page;
    await page.goto(`${stack.url}/audit/requests/${comment.id}`);
    for (const details of await page.locator('details').all()) await details.locator('summary').first().click();
    const text = (await page.locator('main').textContent()) ?? '';
    const raw = [...text].filter((c) => /[\p{Default_Ignorable_Code_Point}\p{Cf}\p{Zl}\p{Zp}\p{Bidi_Control}]/u.test(c));
    expect(raw.map((c) => c.codePointAt(0)!.toString(16))).toEqual([]);
    expect(text).toContain('⟨U+202E⟩gnp.exe⟨U+2062⟩'); // the stored request, as JSON, escaped
    expect(text).toContain('no⟨U+2066⟩ thanks⟨U+E0041⟩'); // the approver's reason
    expect(await page.locator('pre.data').count()).toBeGreaterThan(0);
    expect(await page.locator('.value[data-flags~="bidi"]').count()).toBeGreaterThan(0);
    await screenshot(page, 'hygiene-audit-timeline-390x844');
  });

  it('a NUL in the agent\'s text is refused by name, not stored and not an internal error', async () => {
    await expect(submit('github_create_issue', { owner: 'acme', repo: 'web', title: 'a\u0000b' })).rejects.toMatchObject({
      code: 'invalid_arguments',
      message: expect.stringContaining('NUL character (U+0000)'),
    });
  });
});
