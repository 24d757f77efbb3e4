import { z } from 'zod';
import type { JsonObject, ToolResult } from '../../kernel/index.ts';
import { defineTool, type ToolSpec } from '../spec.ts';
import { branchSha, defaultBranch } from './branches.ts';
import { refuse } from './checks.ts';
import type { GithubClient } from './client.ts';
import { branchField, checksState, commitField, pullVerdict, repoField, reviewCounts, short, urlField, writtenOnGithub } from './present.ts';
import { branch, number, ownerRepo, pullNumber, sha } from './schemas.ts';

/**
 * Opening and merging pull requests. A merge is pinned to the head SHA the approver saw and passes it to GitHub's
 * `sha` parameter, so GitHub itself refuses (409) if anything was pushed after the approval.
 */

const createPull = z.strictObject({
  ...ownerRepo,
  title: z.string().min(1).max(256).describe('Pull request title'),
  head: z.string().min(1).max(300).regex(/^(?:[A-Za-z0-9-]{1,39}:)?[^\s:]+$/, 'head must be a branch name, or owner:branch for a fork').describe('Branch with the changes (owner:branch for a fork)'),
  base: branch.describe('Branch to merge into'),
  body: z.string().max(60_000).optional().describe('Description (Markdown)'),
});
const mergePull = z.strictObject({
  ...ownerRepo,
  pull_number: pullNumber,
  sha: sha.describe('The head SHA you reviewed; GitHub refuses the merge if the head has moved since'),
  merge_method: z.enum(['merge', 'squash', 'rebase']).optional().describe('Default: merge'),
});

function mergedResult(owner: string, repo: string, n: number, base: string, mergeSha: string | null): ToolResult {
  return {
    data: { merged: true, pull_number: n, sha: mergeSha },
    text: `Merged PR #${n} of ${owner}/${repo} into ${base}${mergeSha ? ` as ${short(mergeSha)}` : ''}`,
  };
}

export function pullTools(gh: GithubClient): ToolSpec[] {
  return [
    defineTool({
      name: 'github_create_pull_request', title: 'Open pull request', impact: 'write', consequence: 'changes-code',
      description: 'Open a pull request from head into base.',
      input: createPull,
      describe: async ({ owner, repo, title, head, base, body }) => {
        const crossRepo = head.includes(':') && !head.startsWith(`${owner}:`);
        const headName = head.replace(/^[^:]*:/, '');
        if (!(await branchSha(gh, owner, repo, base))) throw refuse(`Base branch ${base} does not exist in ${owner}/${repo}: check base.`);
        // A fork's branch lives in another repository; its head is shown as given and not pinned.
        const headSha = crossRepo ? null : await branchSha(gh, owner, repo, headName);
        if (!crossRepo && !headSha) throw refuse(`Head branch ${headName} does not exist in ${owner}/${repo}: push it first or check head.`);
        const pins: JsonObject = headSha ? { head_sha: headSha } : {};
        return {
          summary: `Open a pull request from ${head} into ${base} of ${owner}/${repo}${headSha ? ` (head at ${short(headSha)})` : ''}`,
          consequence: 'changes-code', reversible: true, pins,
          fields: [repoField(owner, repo), branchField('From', head), branchField('Into', base), ...(headSha ? [commitField('Head commit', headSha)] : [])],
          agentText: [{ label: 'Title', text: title }, ...(body ? [{ label: 'Description', text: body }] : [])],
        };
      },
      execute: async ({ owner, repo, title, head, base, body }) => {
        const { data } = await gh.call(`opening a pull request from ${head} into ${base} of ${owner}/${repo}`, (o) =>
          o.rest.pulls.create({ owner, repo, title, head, base, ...(body ? { body } : {}) }));
        return { data: { number: data.number, html_url: data.html_url, head_sha: data.head.sha }, text: `Opened PR #${data.number} in ${owner}/${repo}: ${data.html_url}` };
      },
      reconcile: async ({ owner, repo, head, base }) => {
        const label = head.includes(':') ? head : `${owner}:${head}`;
        const { data } = await gh.call(`looking for an open pull request from ${head} in ${owner}/${repo}`, (o) =>
          o.rest.pulls.list({ owner, repo, head: label, base, state: 'open', per_page: 1 }));
        const pr = data[0];
        return pr ? { data: { number: pr.number, html_url: pr.html_url, head_sha: pr.head.sha }, text: `Opened PR #${pr.number} in ${owner}/${repo}: ${pr.html_url}` } : null;
      },
      rerunSafe: 'GitHub refuses a second open pull request for the same head and base',
    }),
    defineTool({
      name: 'github_merge_pull_request', title: 'Merge pull request', impact: 'high', consequence: 'changes-code',
      description: 'Merge a pull request at the head SHA you reviewed (sha). Refused if the head has moved.',
      input: mergePull,
      describe: async ({ owner, repo, pull_number, sha: expected, merge_method }) => {
        const what = `reading pull request #${pull_number} of ${owner}/${repo}`;
        // One round: the checks are read for the SHA the agent expects, which is only used if it is the PR's head.
        const [found, { data: checks }, { data: reviews }, main] = await Promise.all([
          gh.find(what, (o) => o.rest.pulls.get({ owner, repo, pull_number })),
          gh.find(`${what} (check runs)`, (o) => o.rest.checks.listForRef({ owner, repo, ref: expected, per_page: 100 }), [422])
            .then((r) => r ?? { data: { check_runs: [] } }),
          gh.find(`${what} (reviews)`, (o) => o.rest.pulls.listReviews({ owner, repo, pull_number, per_page: 100 }))
            .then((r) => r ?? { data: [] }),
          defaultBranch(gh, owner, repo),
        ]);
        if (!found) throw refuse(`There is no pull request #${pull_number} in ${owner}/${repo}: check the number.`);
        const pr = found.data;
        if (pr.merged) throw refuse(`PR #${pull_number} of ${owner}/${repo} is already merged.`);
        if (pr.state !== 'open') throw refuse(`PR #${pull_number} of ${owner}/${repo} is closed; reopen it before merging.`);
        if (pr.head.sha !== expected) {
          throw refuse(`PR #${pull_number} of ${owner}/${repo} is now at ${short(pr.head.sha)}, not ${short(expected)}: review the new commits, then ask again with sha ${pr.head.sha}.`);
        }
        const state = checksState(checks.check_runs);
        const counts = reviewCounts(reviews);
        const method = merge_method ?? 'merge';
        return {
          // The title and description were written on GitHub by the PR's author: quoted fields, never the summary.
          summary: `Merge PR #${pull_number} from ${pr.head.ref} into ${pr.base.ref} of ${owner}/${repo} at ${short(pr.head.sha)} (${pullVerdict(state, counts)})`,
          consequence: 'changes-code', reversible: false,
          // The verdicts are pinned too: an approval given on "checks passing" must not execute on failing checks.
          pins: { head_sha: pr.head.sha, base: pr.base.ref, default_branch: main, checks: state, approving_reviews: counts.approving },
          fields: [
            repoField(owner, repo), urlField('Pull request', pr.html_url), writtenOnGithub('Pull request title', pr.title, pr.user),
            branchField('From', pr.head.ref), branchField('Into', pr.base.ref),
            commitField('Head commit', pr.head.sha), { label: 'Merge method', kind: 'text', value: method },
            ...(pr.base.ref === main ? [branchField('Default branch', main)] : []),
            ...(pr.body ? [writtenOnGithub('Pull request description', pr.body, pr.user)] : []),
          ],
        };
      },
      execute: async ({ owner, repo, pull_number, sha: expected, merge_method }, ctx) => {
        const { data } = await gh.call(`merging PR #${pull_number} of ${owner}/${repo}`, (o) =>
          o.rest.pulls.merge({ owner, repo, pull_number, sha: expected, merge_method: merge_method ?? 'merge' }));
        const base = typeof ctx.pins.base === 'string' ? ctx.pins.base : 'its base';
        return mergedResult(owner, repo, pull_number, base, data.sha);
      },
      reconcile: async ({ owner, repo, pull_number, sha: expected }) => {
        const { data: pr } = await gh.call(`reading pull request #${pull_number} of ${owner}/${repo}`, (o) => o.rest.pulls.get({ owner, repo, pull_number }));
        // Merged at the head we were approved for: that merge is ours (any other head would have been refused).
        if (!pr.merged || pr.head.sha !== expected) return null;
        return mergedResult(owner, repo, pull_number, pr.base.ref, pr.merge_commit_sha ?? null);
      },
      rerunSafe: 'GitHub merges a pull request once, and only at the approved head SHA',
    }),
  ];
}
