import { fakeSha, type Permission, type SandboxState, type SbRepository } from './state.ts';
import {
  fail, issueJson, notFound, ok, paginate, pullDetailJson, pullJson, releaseJson, repoJson, runJson, userJson, type Reply,
} from './wire.ts';

/** What a route handler sees: the parsed request. `user` is the login the token stands for. */
export interface Ctx {
  state: SandboxState;
  params: Record<string, string>;
  url: URL;
  body: Record<string, unknown>;
  user: string;
}

/** A route: `pattern` segments are literals, `:name` (one segment) or `*name` (the rest of the path). */
export interface Route {
  method: string;
  pattern: string;
  handle(ctx: Ctx, repo: SbRepository): Reply;
}

/** Finds the commit a branch, tag, full or abbreviated SHA names, as GitHub's `{ref}` parameters do. */
export function resolveRef(repo: SbRepository, ref: string): string | undefined {
  const name = ref.replace(/^refs\//, '').replace(/^(heads|tags)\//, '');
  if (repo.branches.has(name)) return repo.branches.get(name);
  if (repo.tags.has(name)) return repo.tags.get(name);
  if (/^[0-9a-f]{7,40}$/.test(ref)) return [...repo.commits.keys()].find((sha) => sha.startsWith(ref));
  return undefined;
}

function newestFirst<T extends { createdAt: string; number?: number; id?: number }>(items: T[], url: URL): T[] {
  const key = (x: T) => `${x.createdAt}:${String(x.number ?? x.id ?? 0).padStart(10, '0')}`;
  const sorted = [...items].sort((a, b) => key(b).localeCompare(key(a)));
  return url.searchParams.get('direction') === 'asc' ? sorted.reverse() : sorted;
}

function byState<T extends { state: string }>(items: T[], url: URL): T[] {
  const state = url.searchParams.get('state') ?? 'open';
  return state === 'all' ? items : items.filter((x) => x.state === state);
}

function listed(items: unknown[], url: URL): Reply {
  const { page, headers } = paginate(items, url);
  return ok(page, 200, headers);
}

const get = (pattern: string, handle: Route['handle']): Route => ({ method: 'GET', pattern, handle });

/** The read endpoints the connector's tools and describers use. */
export const readRoutes: Route[] = [
  get('/repos/:owner/:repo', ({ state }, repo) => ok(repoJson(state, repo))),
  get('/repos/:owner/:repo/pulls', ({ state, url }, repo) => {
    const head = url.searchParams.get('head');
    const base = url.searchParams.get('base');
    const pulls = byState(repo.pulls, url)
      .filter((p) => !head || `${repo.owner}:${p.head}` === head)
      .filter((p) => !base || p.base === base);
    return listed(newestFirst(pulls, url).map((p) => pullJson(state, repo, p)), url);
  }),
  get('/repos/:owner/:repo/pulls/:number', ({ state, params }, repo) => {
    const pull = repo.pulls.find((p) => p.number === Number(params.number));
    return pull ? ok(pullDetailJson(state, repo, pull)) : notFound();
  }),
  get('/repos/:owner/:repo/pulls/:number/reviews', ({ state, params, url }, repo) => {
    if (!repo.pulls.some((p) => p.number === Number(params.number))) return notFound();
    const reviews = repo.reviews.filter((r) => r.pull === Number(params.number)).map((r) => ({
      id: r.id, user: userJson(state.users.get(r.user) ?? { login: r.user }), state: r.state, commit_id: r.commitId,
      submitted_at: r.submittedAt, body: '',
    }));
    return listed(reviews, url);
  }),
  get('/repos/:owner/:repo/commits/:ref/check-runs', ({ params }, repo) => {
    const sha = resolveRef(repo, params.ref);
    if (!sha) return fail(422, `No commit found for SHA: ${params.ref}`);
    const runs = repo.checkRuns.filter((r) => r.headSha === sha).map((r) => ({
      id: r.id, name: r.name, head_sha: r.headSha, status: r.status, conclusion: r.conclusion,
      html_url: `https://github.com/${repo.owner}/${repo.name}/runs/${r.id}`, started_at: '2025-05-11T09:31:00Z',
      completed_at: r.status === 'completed' ? '2025-05-11T09:35:00Z' : null, app: { slug: 'github-actions' },
    }));
    return ok({ total_count: runs.length, check_runs: runs });
  }),
  get('/repos/:owner/:repo/commits/:ref', ({ params }, repo) => {
    const sha = resolveRef(repo, params.ref);
    const commit = sha ? repo.commits.get(sha) : undefined;
    if (!commit) return fail(422, `No commit found for SHA: ${params.ref}`);
    return ok({
      sha: commit.sha, html_url: `https://github.com/${repo.owner}/${repo.name}/commit/${commit.sha}`,
      commit: { message: commit.message, author: { name: commit.author, email: `${commit.author}@acme.test`, date: commit.date } },
      author: { login: commit.author },
    });
  }),
  get('/repos/:owner/:repo/issues', ({ state, url }, repo) => {
    const all = [...byState(repo.issues, url), ...byState(repo.pulls, url)];
    return listed(newestFirst(all, url).map((i) => issueJson(state, repo, i)), url);
  }),
  get('/repos/:owner/:repo/issues/:number', ({ state, params }, repo) => {
    const n = Number(params.number);
    const found = repo.issues.find((i) => i.number === n) ?? repo.pulls.find((p) => p.number === n);
    return found ? ok(issueJson(state, repo, found)) : notFound();
  }),
  get('/repos/:owner/:repo/issues/:number/comments', ({ state, params, url }, repo) => {
    const n = Number(params.number);
    if (!repo.issues.some((i) => i.number === n) && !repo.pulls.some((p) => p.number === n)) return notFound();
    const comments = repo.comments.filter((c) => c.issue === n).map((c) => ({
      id: c.id, body: c.body, user: userJson(state.users.get(c.user) ?? { login: c.user }), created_at: c.createdAt,
      html_url: `https://github.com/${repo.owner}/${repo.name}/issues/${n}#issuecomment-${c.id}`,
    }));
    return listed(comments, url);
  }),
  get('/repos/:owner/:repo/contents/*path', ({ params, url }, repo) => {
    const ref = url.searchParams.get('ref');
    if (ref && !resolveRef(repo, ref)) return fail(404, `No commit found for the ref ${ref}`);
    const path = params.path.replace(/^\/+|\/+$/g, '');
    const text = repo.files.get(path);
    const html = (p: string) => `https://github.com/${repo.owner}/${repo.name}/blob/${ref ?? repo.defaultBranch}/${p}`;
    if (text !== undefined) {
      const content = Buffer.from(text).toString('base64').replace(/(.{60})/g, '$1\n');
      return ok({ type: 'file', encoding: 'base64', name: path.split('/').pop(), path, size: Buffer.byteLength(text), sha: sha1ish(text), content, html_url: html(path) });
    }
    const prefix = path ? `${path}/` : '';
    const children = new Map<string, 'file' | 'dir'>();
    for (const file of repo.files.keys()) {
      if (!file.startsWith(prefix)) continue;
      const [head, ...rest] = file.slice(prefix.length).split('/');
      children.set(head, rest.length ? 'dir' : 'file');
    }
    if (!children.size) return notFound();
    return ok([...children].map(([name, type]) => ({ type, name, path: prefix + name, size: 0, sha: sha1ish(prefix + name), html_url: html(prefix + name) })));
  }),
  get('/repos/:owner/:repo/actions/runs', ({ url }, repo) => runsReply(repo, repo.runs, url)),
  get('/repos/:owner/:repo/actions/workflows/:id', ({ params }, repo) => {
    const wf = findWorkflow(repo, params.id);
    return wf ? ok({ id: wf.id, name: wf.name, path: wf.path, state: 'active', html_url: `https://github.com/${repo.owner}/${repo.name}/blob/${repo.defaultBranch}/${wf.path}` }) : notFound();
  }),
  get('/repos/:owner/:repo/actions/workflows/:id/runs', ({ params, url }, repo) => {
    const wf = findWorkflow(repo, params.id);
    return wf ? runsReply(repo, repo.runs.filter((r) => r.workflowId === wf.id), url) : notFound();
  }),
  get('/repos/:owner/:repo/git/ref/*ref', ({ params }, repo) => {
    const [kind, ...rest] = params.ref.split('/');
    const name = rest.join('/');
    const sha = kind === 'heads' ? repo.branches.get(name) : kind === 'tags' ? repo.tags.get(name) : undefined;
    if (!sha) return notFound();
    return ok({ ref: `refs/${params.ref}`, object: { sha, type: 'commit' } });
  }),
  get('/repos/:owner/:repo/releases', ({ state, url }, repo) => listed(newestFirst(repo.releases, url).map((r) => releaseJson(state, repo, r)), url)),
  get('/repos/:owner/:repo/releases/tags/:tag', ({ state, params }, repo) => {
    const release = repo.releases.find((r) => r.tag === params.tag);
    return release ? ok(releaseJson(state, repo, release)) : notFound();
  }),
  get('/repos/:owner/:repo/collaborators/:user/permission', ({ state, params }, repo) => {
    const user = state.users.get(params.user);
    if (!user) return fail(404, `${params.user} is not a user`);
    const role = repo.collaborators.get(user.login);
    return ok({ permission: role ? LEGACY[role] : 'none', role_name: role ? ROLE_NAME[role] : 'none', user: userJson(user) });
  }),
  get('/repos/:owner/:repo/invitations', ({ state, url }, repo) => listed(repo.invitations.map((i) => ({
    id: i.id, invitee: userJson(state.users.get(i.invitee) ?? { login: i.invitee }), permissions: ROLE_NAME[i.permission],
    created_at: i.createdAt, html_url: `https://github.com/${repo.owner}/${repo.name}/invitations`,
  })), url)),
];

export function findWorkflow(repo: SbRepository, id: string) {
  return repo.workflows.find((w) => String(w.id) === id || w.path.endsWith(`/${id}`));
}

function runsReply(repo: SbRepository, runs: SbRepository['runs'], url: URL): Reply {
  const event = url.searchParams.get('event');
  const branch = url.searchParams.get('branch');
  const filtered = runs.filter((r) => (!event || r.event === event) && (!branch || r.branch === branch));
  const { page, headers } = paginate(newestFirst(filtered, url), url);
  return ok({ total_count: filtered.length, workflow_runs: page.map((r) => runJson(repo, r)) }, 200, headers);
}

const sha1ish = (text: string): string => fakeSha(`blob:${text}`);

/** GitHub answers permission checks in two vocabularies: the legacy one and role names. */
const LEGACY: Record<Permission, string> = { pull: 'read', triage: 'read', push: 'write', maintain: 'write', admin: 'admin' };
export const ROLE_NAME: Record<Permission, string> = { pull: 'read', triage: 'triage', push: 'write', maintain: 'maintain', admin: 'admin' };
