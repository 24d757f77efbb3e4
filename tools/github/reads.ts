import { z } from 'zod';
import type { JsonObject } from '../../kernel/index.ts';
import { defineTool, type Described, type ToolSpec } from '../spec.ts';
import type { GithubClient } from './client.ts';
import { nextCursor, pageOf } from './cursor.ts';
import {
  checksState, plural, pullVerdict, repoField, reviewCounts, short, trimIssue, trimPull, trimRepo, trimRun,
} from './present.ts';
import { cursor, listState, number, ownerRepo, perPage, pullNumber } from './schemas.ts';

/** The read tools: no pins, no look-ups in `describe` (a read changes nothing, so its summary needs none). */

const MAX_TEXT = 200_000;

function read(summary: string, owner: string, repo: string, agentText?: Described['agentText']): Described {
  return { summary, consequence: 'reads', reversible: true, fields: [repoField(owner, repo)], pins: {}, ...(agentText ? { agentText } : {}) };
}

const pulls = z.strictObject({ ...ownerRepo, state: listState, per_page: perPage, cursor });
const issues = z.strictObject({ ...ownerRepo, state: listState, per_page: perPage, cursor });
const runs = z.strictObject({ ...ownerRepo, per_page: perPage, cursor });
const file = z.strictObject({
  ...ownerRepo,
  path: z.string().min(1).max(1000).regex(/^[^\x00-\x1f]+$/, 'path must not contain control characters').describe('File or directory path in the repository'),
  ref: z.string().min(1).max(255).optional().describe('Branch, tag or commit SHA (default: the default branch)'),
});

/** Decodes GitHub's base64 file content as UTF-8 text when it is text, else keeps base64; marks truncation. */
function fileContent(base64: string): { encoding: string; content: string; truncated: boolean } {
  const bytes = Buffer.from(base64.replace(/\s/g, ''), 'base64');
  let text: string | null = null;
  try {
    text = bytes.includes(0) ? null : new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    text = null; // not UTF-8: a binary file
  }
  const [encoding, content] = text === null ? ['base64', bytes.toString('base64')] : ['utf-8', text];
  return { encoding, content: content.slice(0, MAX_TEXT), truncated: content.length > MAX_TEXT };
}

export function readTools(gh: GithubClient): ToolSpec[] {
  return [
    defineTool({
      name: 'github_get_repository', title: 'Get repository', impact: 'read', consequence: 'reads',
      description: 'Read a repository: description, visibility, default branch, counts.',
      input: z.strictObject(ownerRepo),
      describe: async ({ owner, repo }) => read(`Read repository ${owner}/${repo}`, owner, repo),
      execute: async ({ owner, repo }) => {
        const { data } = await gh.call(`reading repository ${owner}/${repo}`, (o) => o.rest.repos.get({ owner, repo }));
        return { data: trimRepo(data), text: `${data.full_name} (${data.visibility ?? (data.private ? 'private' : 'public')}), default branch ${data.default_branch}` };
      },
    }),
    defineTool({
      name: 'github_list_pull_requests', title: 'List pull requests', impact: 'read', consequence: 'reads',
      description: 'List pull requests of a repository, newest first. Pass next_cursor back as cursor for the next page.',
      input: pulls,
      describe: async ({ owner, repo, state }) => read(`List ${state ?? 'open'} pull requests of ${owner}/${repo}`, owner, repo),
      execute: async ({ owner, repo, state, per_page, cursor: c }) => {
        const page = pageOf('list_pull_requests', c);
        const res = await gh.call(`listing pull requests of ${owner}/${repo}`, (o) => o.rest.pulls.list({ owner, repo, state: state ?? 'open', per_page: per_page ?? 30, page }));
        const next = nextCursor('list_pull_requests', res.headers.link);
        return { data: { pull_requests: res.data.map(trimPull), next_cursor: next }, text: `${plural(res.data.length, 'pull request')} of ${owner}/${repo} (page ${page}${next ? ', more available' : ''})` };
      },
    }),
    defineTool({
      name: 'github_get_pull_request', title: 'Get pull request', impact: 'read', consequence: 'reads',
      description: 'Read a pull request with the check runs on its head commit and its reviews.',
      input: z.strictObject({ ...ownerRepo, pull_number: pullNumber }),
      describe: async ({ owner, repo, pull_number }) => read(`Read pull request #${pull_number} of ${owner}/${repo}`, owner, repo),
      execute: async ({ owner, repo, pull_number }) => {
        const what = `reading pull request #${pull_number} of ${owner}/${repo}`;
        const { data: pr } = await gh.call(what, (o) => o.rest.pulls.get({ owner, repo, pull_number }));
        const [{ data: checks }, { data: reviews }] = await Promise.all([
          gh.call(`${what} (check runs)`, (o) => o.rest.checks.listForRef({ owner, repo, ref: pr.head.sha, per_page: 100 })),
          gh.call(`${what} (reviews)`, (o) => o.rest.pulls.listReviews({ owner, repo, pull_number, per_page: 100 })),
        ]);
        const state = checksState(checks.check_runs);
        const counts = reviewCounts(reviews);
        const data: JsonObject = {
          ...trimPull(pr), body: pr.body ?? null, merged: pr.merged, mergeable_state: pr.mergeable_state,
          merged_at: pr.merged_at ?? null, merge_commit_sha: pr.merge_commit_sha ?? null,
          checks: { state, runs: checks.check_runs.map((r) => ({ name: r.name, status: r.status, conclusion: r.conclusion ?? null })) },
          reviews: {
            approving: counts.approving, changes_requested: counts.changesRequested,
            list: reviews.map((r) => ({ user: r.user?.login ?? null, state: r.state, commit_id: r.commit_id ?? null, submitted_at: r.submitted_at ?? null })),
          },
        };
        return { data, text: `PR #${pr.number} '${pr.title}' (${pr.merged ? 'merged' : pr.state}) from ${pr.head.ref} into ${pr.base.ref} at ${short(pr.head.sha)}: ${pullVerdict(state, counts)}` };
      },
    }),
    defineTool({
      name: 'github_list_issues', title: 'List issues', impact: 'read', consequence: 'reads',
      description: 'List issues of a repository, newest first (GitHub includes pull requests; they are marked is_pull_request).',
      input: issues,
      describe: async ({ owner, repo, state }) => read(`List ${state ?? 'open'} issues of ${owner}/${repo}`, owner, repo),
      execute: async ({ owner, repo, state, per_page, cursor: c }) => {
        const page = pageOf('list_issues', c);
        const res = await gh.call(`listing issues of ${owner}/${repo}`, (o) => o.rest.issues.listForRepo({ owner, repo, state: state ?? 'open', per_page: per_page ?? 30, page }));
        const next = nextCursor('list_issues', res.headers.link);
        return { data: { issues: res.data.map(trimIssue), next_cursor: next }, text: `${plural(res.data.length, 'issue')} of ${owner}/${repo} (page ${page}${next ? ', more available' : ''})` };
      },
    }),
    defineTool({
      name: 'github_get_file_contents', title: 'Get file contents', impact: 'read', consequence: 'reads',
      description: 'Read a file (as UTF-8 text, or base64 if binary) or list a directory.',
      input: file,
      // The path and ref are the agent's words, checked by nobody before the read: its box, not the summary.
      describe: async ({ owner, repo, path, ref }) =>
        read(`Read a file or directory of ${owner}/${repo}`, owner, repo, [{ label: 'Path', text: path }, ...(ref ? [{ label: 'Branch, tag or commit', text: ref }] : [])]),
      execute: async ({ owner, repo, path, ref }) => {
        const where = `${path} of ${owner}/${repo}${ref ? ` at ${ref}` : ''}`;
        const { data } = await gh.call(`reading ${where}`, (o) => o.rest.repos.getContent({ owner, repo, path, ...(ref ? { ref } : {}) }));
        if (Array.isArray(data)) {
          const entries = data.map((e) => ({ type: e.type, name: e.name, path: e.path, size: e.size }));
          return { data: { type: 'dir', path, entries }, text: `Directory ${where}: ${plural(entries.length, 'entry', 'entries')}` };
        }
        if (data.type !== 'file' || !('content' in data)) {
          return { data: { type: data.type, path: data.path, sha: data.sha, size: data.size }, text: `${where} is a ${data.type}, not a file` };
        }
        const body = data.encoding === 'base64' ? fileContent(data.content) : { encoding: 'none', content: '', truncated: true };
        const data2: JsonObject = { type: 'file', path: data.path, sha: data.sha, size: data.size, html_url: data.html_url ?? null, ...body };
        const note = body.encoding === 'none' ? ' (too large for the contents API; not returned)' : body.truncated ? ' (truncated)' : '';
        return { data: data2, text: `File ${where}, ${data.size} bytes${note}` };
      },
    }),
    defineTool({
      name: 'github_list_workflow_runs', title: 'List workflow runs', impact: 'read', consequence: 'reads',
      description: 'List GitHub Actions workflow runs of a repository, newest first.',
      input: runs,
      describe: async ({ owner, repo }) => read(`List workflow runs of ${owner}/${repo}`, owner, repo),
      execute: async ({ owner, repo, per_page, cursor: c }) => {
        const page = pageOf('list_workflow_runs', c);
        const res = await gh.call(`listing workflow runs of ${owner}/${repo}`, (o) => o.rest.actions.listWorkflowRunsForRepo({ owner, repo, per_page: per_page ?? 30, page }));
        const next = nextCursor('list_workflow_runs', res.headers.link);
        return {
          data: { total_count: res.data.total_count, workflow_runs: res.data.workflow_runs.map(trimRun), next_cursor: next },
          text: `${plural(res.data.workflow_runs.length, 'workflow run')} of ${owner}/${repo} (page ${page}${next ? ', more available' : ''})`,
        };
      },
    }),
  ];
}
