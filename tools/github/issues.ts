import { z } from 'zod';
import type { ToolResult } from '../../kernel/index.ts';
import { defineTool, type ToolSpec } from '../spec.ts';
import { marker, refuse, withMarker } from './checks.ts';
import type { GithubClient } from './client.ts';
import { repoField, urlField, writtenOnGithub } from './present.ts';
import { number, ownerRepo } from './schemas.ts';

/**
 * Issues and comments. Text the agent writes is shown only as agentText; an existing issue's title was written on
 * GitHub by its author (possibly the agent, through an earlier request), so it is a quoted field and never in the
 * summary. Each write leaves a hidden marker with the idempotency key, which is how `reconcile` finds a write that
 * happened before a crash.
 */

const createIssue = z.strictObject({
  ...ownerRepo,
  title: z.string().min(1).max(256).describe('Issue title'),
  body: z.string().max(60_000).optional().describe('Issue body (Markdown)'),
  labels: z.array(z.string().min(1).max(50)).max(20).optional().describe('Label names'),
});
const createComment = z.strictObject({
  ...ownerRepo,
  issue_number: number.describe('Issue or pull request number'),
  body: z.string().min(1).max(60_000).describe('Comment text (Markdown)'),
});

function issueResult(owner: string, repo: string, i: { number: number; html_url: string; title: string; state: string }): ToolResult {
  return { data: { number: i.number, html_url: i.html_url, title: i.title, state: i.state }, text: `Created issue #${i.number} in ${owner}/${repo}: ${i.html_url}` };
}

export function issueTools(gh: GithubClient): ToolSpec[] {
  return [
    defineTool({
      name: 'github_create_issue', title: 'Create issue', impact: 'write', consequence: 'writes',
      description: 'Open an issue in a repository.',
      input: createIssue,
      describe: async ({ owner, repo, title, body, labels }) => ({
        summary: `Create an issue in ${owner}/${repo}`,
        consequence: 'writes', reversible: true, pins: {},
        fields: [repoField(owner, repo), ...(labels?.length ? [{ label: 'Labels', kind: 'text' as const, value: labels.join(', ') }] : [])],
        agentText: [{ label: 'Title', text: title }, ...(body ? [{ label: 'Body', text: body }] : [])],
      }),
      execute: async ({ owner, repo, title, body, labels }, ctx) => {
        const { data } = await gh.call(`creating an issue in ${owner}/${repo}`, (o) =>
          o.rest.issues.create({ owner, repo, title, body: withMarker(body, ctx), ...(labels ? { labels } : {}) }));
        return issueResult(owner, repo, data);
      },
      reconcile: async ({ owner, repo }, ctx) => {
        const { data } = await gh.call(`looking for a created issue in ${owner}/${repo}`, (o) =>
          o.rest.issues.listForRepo({ owner, repo, state: 'all', sort: 'created', direction: 'desc', per_page: 100 }));
        const found = data.find((i) => i.pull_request === undefined && i.body?.includes(marker(ctx)));
        return found ? issueResult(owner, repo, found) : null;
      },
      check: ({ owner, repo, title }) => `the newest issues of ${owner}/${repo} for one titled ${JSON.stringify(title)}: https://github.com/${owner}/${repo}/issues`,
    }),
    defineTool({
      name: 'github_create_issue_comment', title: 'Comment on issue or pull request', impact: 'write', consequence: 'writes',
      description: 'Add a comment to an issue or a pull request.',
      input: createComment,
      describe: async ({ owner, repo, issue_number, body }) => {
        const issue = await gh.find(`reading issue #${issue_number} of ${owner}/${repo}`, (o) => o.rest.issues.get({ owner, repo, issue_number }));
        if (!issue) throw refuse(`There is no issue or pull request #${issue_number} in ${owner}/${repo}: check the number.`);
        const kind = issue.data.pull_request ? 'PR' : 'issue';
        return {
          summary: `Comment on ${kind} #${issue_number} of ${owner}/${repo}`,
          consequence: 'writes', reversible: true, pins: {},
          fields: [
            repoField(owner, repo), urlField(kind === 'PR' ? 'Pull request' : 'Issue', issue.data.html_url),
            writtenOnGithub(kind === 'PR' ? 'Pull request title' : 'Issue title', issue.data.title, issue.data.user),
          ],
          agentText: [{ label: 'Comment', text: body }],
        };
      },
      execute: async ({ owner, repo, issue_number, body }, ctx) => {
        const { data } = await gh.call(`commenting on #${issue_number} of ${owner}/${repo}`, (o) =>
          o.rest.issues.createComment({ owner, repo, issue_number, body: withMarker(body, ctx) }));
        return { data: { id: data.id, html_url: data.html_url }, text: `Commented on #${issue_number} of ${owner}/${repo}: ${data.html_url}` };
      },
      reconcile: async ({ owner, repo, issue_number }, ctx) => {
        // Comments list oldest first; ten pages of 100 cover any thread an agent plausibly comments on.
        for (let page = 1; page <= 10; page++) {
          const { data } = await gh.call(`looking for a comment on #${issue_number} of ${owner}/${repo}`, (o) =>
            o.rest.issues.listComments({ owner, repo, issue_number, per_page: 100, page }));
          const found = data.find((c) => c.body?.includes(marker(ctx)));
          if (found) return { data: { id: found.id, html_url: found.html_url }, text: `Commented on #${issue_number} of ${owner}/${repo}: ${found.html_url}` };
          if (data.length < 100) break;
        }
        return null;
      },
      check: ({ owner, repo, issue_number }) => `the comments on https://github.com/${owner}/${repo}/issues/${issue_number}`,
    }),
  ];
}
