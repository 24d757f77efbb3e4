import type { SandboxState, SbIssue, SbPull, SbRelease, SbRepository, SbRun, SbUser } from './state.ts';

/**
 * GitHub's REST wire format for the sandbox: the JSON shapes (a faithful subset of the fields in
 * @octokit/openapi-types), error bodies and `Link` pagination.
 */

const WEB = 'https://github.com';
const DOCS = 'https://docs.github.com/rest';

export type Body = Record<string, unknown> | unknown[] | null;

/** What a route handler answers: status, JSON body (null for 204) and extra headers. */
export interface Reply {
  status: number;
  body: Body;
  headers?: Record<string, string>;
}

export function ok(body: Body, status = 200, headers?: Record<string, string>): Reply {
  return { status, body, headers };
}

/** GitHub's error body: `{message, documentation_url}`, plus `errors` for 422 validation failures. */
export function fail(status: number, message: string, errors?: unknown[]): Reply {
  const body: Record<string, unknown> = { message, documentation_url: DOCS, status: String(status) };
  if (errors) body.errors = errors;
  return { status, body };
}

export const notFound = (): Reply => fail(404, 'Not Found');

/** 422 "Validation Failed" naming the resource, field and code, as GitHub does. */
export function invalid(resource: string, field: string, code: string, message?: string): Reply {
  return fail(422, 'Validation Failed', [{ resource, field, code, ...(message ? { message } : {}) }]);
}

/** Slices one page and builds the `Link` header (first, prev, next, last) from the request URL. */
export function paginate<T>(items: T[], url: URL): { page: T[]; headers: Record<string, string> } {
  const perPage = Math.min(100, Math.max(1, Number(url.searchParams.get('per_page') ?? 30) || 30));
  const pageNo = Math.max(1, Number(url.searchParams.get('page') ?? 1) || 1);
  const last = Math.max(1, Math.ceil(items.length / perPage));
  const link = (n: number, rel: string) => {
    const u = new URL(url);
    u.searchParams.set('page', String(n));
    u.searchParams.set('per_page', String(perPage));
    return `<${u.toString()}>; rel="${rel}"`;
  };
  const links: string[] = [];
  if (pageNo > 1) links.push(link(pageNo - 1, 'prev'));
  if (pageNo < last) links.push(link(pageNo + 1, 'next'), link(last, 'last'));
  if (pageNo > 1) links.push(link(1, 'first'));
  const headers: Record<string, string> = links.length ? { link: links.join(', ') } : {};
  return { page: items.slice((pageNo - 1) * perPage, pageNo * perPage), headers };
}

export function userJson(user: SbUser | { login: string; id?: number }): Record<string, unknown> {
  return { login: user.login, id: user.id ?? 0, type: 'User', html_url: `${WEB}/${user.login}`, site_admin: false };
}

function userOf(state: SandboxState, login: string): Record<string, unknown> {
  return userJson(state.users.get(login) ?? { login });
}

export function repoJson(state: SandboxState, repo: SbRepository): Record<string, unknown> {
  const fullName = `${repo.owner}/${repo.name}`;
  return {
    id: repo.id, name: repo.name, full_name: fullName, owner: userOf(state, repo.owner), private: repo.private,
    visibility: repo.private ? 'private' : 'public', description: repo.description, html_url: `${WEB}/${fullName}`,
    default_branch: repo.defaultBranch, archived: false, fork: false,
    open_issues_count: repo.issues.filter((i) => i.state === 'open').length + repo.pulls.filter((p) => p.state === 'open').length,
    stargazers_count: 42, forks_count: 3, pushed_at: '2025-05-12T09:30:00Z',
  };
}

export function pullJson(state: SandboxState, repo: SbRepository, p: SbPull): Record<string, unknown> {
  const fullName = `${repo.owner}/${repo.name}`;
  const baseSha = repo.branches.get(p.base) ?? null;
  return {
    number: p.number, state: p.state, title: p.title, body: p.body, user: userOf(state, p.user), draft: p.draft,
    html_url: `${WEB}/${fullName}/pull/${p.number}`, created_at: p.createdAt, updated_at: p.updatedAt,
    closed_at: p.state === 'closed' ? p.updatedAt : null, merged_at: p.mergedAt, merge_commit_sha: p.mergeCommitSha,
    head: { label: `${repo.owner}:${p.head}`, ref: p.head, sha: p.headSha, repo: { full_name: fullName } },
    base: { label: `${repo.owner}:${p.base}`, ref: p.base, sha: baseSha, repo: { full_name: fullName } },
  };
}

/** The single-PR shape adds merge state; `mergeable_state` is 'clean' only when checks pass and someone approved. */
export function pullDetailJson(state: SandboxState, repo: SbRepository, p: SbPull): Record<string, unknown> {
  const runs = repo.checkRuns.filter((r) => r.headSha === p.headSha);
  const checksOk = runs.every((r) => r.status === 'completed' && r.conclusion === 'success');
  const approved = repo.reviews.some((r) => r.pull === p.number && r.state === 'APPROVED');
  const mergeableState = p.merged ? 'unknown' : p.draft ? 'draft' : checksOk && approved ? 'clean' : 'blocked';
  return {
    ...pullJson(state, repo, p), merged: p.merged, mergeable: p.merged ? null : true, mergeable_state: mergeableState,
    merged_by: p.mergedBy ? userOf(state, p.mergedBy) : null, commits: 1, additions: 12, deletions: 3, changed_files: 2,
  };
}

export function issueJson(state: SandboxState, repo: SbRepository, i: SbIssue | SbPull): Record<string, unknown> {
  const fullName = `${repo.owner}/${repo.name}`;
  const isPull = 'headSha' in i;
  const labels = 'labels' in i ? i.labels : [];
  return {
    number: i.number, title: i.title, body: i.body, state: i.state, user: userOf(state, i.user),
    labels: labels.map((name, k) => ({ id: 300 + k, name, color: 'ededed' })), comments: 0,
    html_url: `${WEB}/${fullName}/${isPull ? 'pull' : 'issues'}/${i.number}`, created_at: i.createdAt,
    updated_at: i.updatedAt, closed_at: 'closedAt' in i ? i.closedAt : null,
    ...(isPull ? { pull_request: { url: `https://api.github.com/repos/${fullName}/pulls/${i.number}` } } : {}),
  };
}

export function runJson(repo: SbRepository, r: SbRun): Record<string, unknown> {
  const fullName = `${repo.owner}/${repo.name}`;
  return {
    id: r.id, name: r.name, display_title: r.displayTitle, event: r.event, head_branch: r.branch, head_sha: r.headSha,
    status: r.status, conclusion: r.conclusion, workflow_id: r.workflowId, run_number: r.id - 6000,
    html_url: `${WEB}/${fullName}/actions/runs/${r.id}`, created_at: r.createdAt, updated_at: r.createdAt,
  };
}

export function releaseJson(state: SandboxState, repo: SbRepository, r: SbRelease): Record<string, unknown> {
  return {
    id: r.id, tag_name: r.tag, name: r.name, body: r.body, target_commitish: r.target, draft: false, prerelease: false,
    author: userOf(state, r.author), created_at: r.createdAt, published_at: r.createdAt,
    html_url: `${WEB}/${repo.owner}/${repo.name}/releases/tag/${r.tag}`,
  };
}
