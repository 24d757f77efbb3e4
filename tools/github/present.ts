import type { IntentField, JsonObject } from '../../kernel/index.ts';

/**
 * How GitHub state is shown: short SHAs, check and review verdicts, intent fields, and the trimmed JSON the
 * tools return. Inputs are structural so both Octokit's types and the sandbox's fit.
 */

type Str = string | null | undefined;
const s = (v: Str): string | null => v ?? null;
const login = (u: { login: string } | null | undefined): string | null => u?.login ?? null;

export const short = (sha: string): string => sha.slice(0, 7);
export const plural = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`;

export const repoField = (owner: string, repo: string): IntentField => ({ label: 'Repository', kind: 'repository', value: `${owner}/${repo}` });
export const branchField = (label: string, value: string): IntentField => ({ label, kind: 'branch', value });
export const commitField = (label: string, value: string): IntentField => ({ label, kind: 'commit', value });
export const urlField = (label: string, value: string): IntentField => ({ label, kind: 'url', value });

/**
 * Free text someone wrote on GitHub (a title, a description): a quoted field naming its author, never part of the
 * summary (DESIGN section 4, "every string has an author").
 */
export const writtenOnGithub = (label: string, text: string, user: { login: string } | null | undefined): IntentField => ({
  label, kind: 'text', value: text, writtenBy: { on: 'GitHub', by: user?.login ? `@${user.login}` : null },
});

export type ChecksState = 'passing' | 'failing' | 'pending' | 'none';
export interface CheckRunLike { name: string; status: string; conclusion: Str }
export interface ReviewLike { user: { login: string } | null; state: string; commit_id?: Str }

const PASSED = new Set(['success', 'neutral', 'skipped']);

/** One verdict for all check runs on a commit: any failure fails, any unfinished run is pending. */
export function checksState(runs: CheckRunLike[]): ChecksState {
  if (!runs.length) return 'none';
  if (runs.some((r) => r.status === 'completed' && !PASSED.has(r.conclusion ?? ''))) return 'failing';
  if (runs.some((r) => r.status !== 'completed')) return 'pending';
  return 'passing';
}

/** Counts each reviewer's latest deciding review, as GitHub's branch protection does (comments do not count). */
export function reviewCounts(reviews: ReviewLike[]): { approving: number; changesRequested: number } {
  const latest = new Map<string, string>();
  for (const r of reviews) {
    if (!r.user || !['APPROVED', 'CHANGES_REQUESTED', 'DISMISSED'].includes(r.state)) continue;
    latest.set(r.user.login, r.state);
  }
  const states = [...latest.values()];
  return { approving: states.filter((x) => x === 'APPROVED').length, changesRequested: states.filter((x) => x === 'CHANGES_REQUESTED').length };
}

/** "checks passing, 1 approving review" (plus requested changes when there are any). */
export function pullVerdict(checks: ChecksState, reviews: { approving: number; changesRequested: number }): string {
  const parts = [checks === 'none' ? 'no checks' : `checks ${checks}`, plural(reviews.approving, 'approving review')];
  if (reviews.changesRequested) parts.push(`${reviews.changesRequested} requesting changes`);
  return parts.join(', ');
}

export function trimRepo(r: {
  full_name: string; description: Str; private: boolean; visibility?: string; default_branch: string; html_url: string;
  archived?: boolean; open_issues_count: number; stargazers_count: number; pushed_at: Str;
}): JsonObject {
  return {
    full_name: r.full_name, description: s(r.description), private: r.private, visibility: r.visibility ?? null,
    default_branch: r.default_branch, html_url: r.html_url, archived: r.archived ?? false,
    open_issues_count: r.open_issues_count, stargazers_count: r.stargazers_count, pushed_at: s(r.pushed_at),
  };
}

export interface PullLike {
  number: number; title: string; state: string; draft?: boolean; user: { login: string } | null; html_url: string;
  head: { ref: string; sha: string }; base: { ref: string }; created_at: string; updated_at: string;
}

export function trimPull(p: PullLike): JsonObject {
  return {
    number: p.number, title: p.title, state: p.state, draft: p.draft ?? false, user: login(p.user), head: p.head.ref,
    head_sha: p.head.sha, base: p.base.ref, html_url: p.html_url, created_at: p.created_at, updated_at: p.updated_at,
  };
}

export function trimIssue(i: {
  number: number; title: string; state: string; user: { login: string } | null; html_url: string; comments: number;
  labels: (string | { name?: string })[]; pull_request?: unknown; created_at: string;
}): JsonObject {
  return {
    number: i.number, title: i.title, state: i.state, user: login(i.user), html_url: i.html_url, comments: i.comments,
    labels: i.labels.map((l) => (typeof l === 'string' ? l : l.name ?? '')), is_pull_request: i.pull_request !== undefined,
    created_at: i.created_at,
  };
}

export function trimRun(r: {
  id: number; name?: Str; display_title: string; event: string; head_branch: Str; head_sha: string; status: Str;
  conclusion: Str; html_url: string; created_at: string;
}): JsonObject {
  return {
    id: r.id, name: s(r.name), display_title: r.display_title, event: r.event, head_branch: s(r.head_branch),
    head_sha: r.head_sha, status: s(r.status), conclusion: s(r.conclusion), html_url: r.html_url, created_at: r.created_at,
  };
}
