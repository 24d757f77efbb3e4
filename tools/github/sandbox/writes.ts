import { findWorkflow, resolveRef, ROLE_NAME, type Route } from './routes.ts';
import type { Permission } from './state.ts';
import { fail, invalid, issueJson, notFound, ok, pullDetailJson, releaseJson } from './wire.ts';

/** The write endpoints, with GitHub's refusals: 409 on a moved head, 422 on bad input, 405 when not mergeable. */

const PERMISSIONS: readonly string[] = ['pull', 'triage', 'push', 'maintain', 'admin'];
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const now = () => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');

export const writeRoutes: Route[] = [
  {
    method: 'POST', pattern: '/repos/:owner/:repo/issues', handle: ({ state, body, user }, repo) => {
      const title = str(body.title);
      if (!title) return invalid('Issue', 'title', 'missing_field');
      const labels = Array.isArray(body.labels) ? body.labels.filter((l): l is string => typeof l === 'string') : [];
      const issue = { number: state.nextNumber(repo), title, body: str(body.body) ?? null, user, state: 'open' as const, labels, createdAt: now(), updatedAt: now(), closedAt: null };
      repo.issues.push(issue);
      return ok(issueJson(state, repo, issue), 201);
    },
  },
  {
    method: 'POST', pattern: '/repos/:owner/:repo/issues/:number/comments', handle: ({ state, params, body, user }, repo) => {
      const n = Number(params.number);
      if (!repo.issues.some((i) => i.number === n) && !repo.pulls.some((p) => p.number === n)) return notFound();
      const text = str(body.body);
      if (!text) return invalid('IssueComment', 'body', 'missing_field');
      const comment = { id: state.id(), issue: n, body: text, user, createdAt: now() };
      repo.comments.push(comment);
      return ok({ id: comment.id, body: text, user: { login: user }, created_at: comment.createdAt, html_url: `https://github.com/${repo.owner}/${repo.name}/issues/${n}#issuecomment-${comment.id}` }, 201);
    },
  },
  {
    method: 'POST', pattern: '/repos/:owner/:repo/git/refs', handle: ({ body }, repo) => {
      const ref = str(body.ref);
      const sha = str(body.sha);
      if (!ref || !/^refs\/heads\/.+/.test(ref)) return fail(422, `${ref ?? 'ref'} is not a valid ref name.`);
      if (!sha || !repo.commits.has(sha)) return fail(422, 'Object does not exist');
      const name = ref.slice('refs/heads/'.length);
      if (repo.branches.has(name)) return fail(422, 'Reference already exists');
      repo.branches.set(name, sha);
      return ok({ ref, object: { sha, type: 'commit' } }, 201);
    },
  },
  {
    method: 'DELETE', pattern: '/repos/:owner/:repo/git/refs/*ref', handle: ({ params }, repo) => {
      const name = params.ref.replace(/^heads\//, '');
      if (!params.ref.startsWith('heads/') || !repo.branches.has(name)) return fail(422, 'Reference does not exist');
      if (name === repo.defaultBranch) return fail(422, 'Cannot delete the default branch');
      repo.branches.delete(name);
      return ok(null, 204);
    },
  },
  {
    method: 'POST', pattern: '/repos/:owner/:repo/pulls', handle: ({ state, body, user }, repo) => {
      const [title, head, base] = [str(body.title), str(body.head), str(body.base)];
      if (!title) return invalid('PullRequest', 'title', 'missing_field');
      const headName = head?.replace(new RegExp(`^${repo.owner}:`), '');
      if (!headName || !repo.branches.has(headName)) return invalid('PullRequest', 'head', 'invalid');
      if (!base || !repo.branches.has(base)) return invalid('PullRequest', 'base', 'invalid');
      if (repo.pulls.some((p) => p.state === 'open' && p.head === headName && p.base === base)) {
        return fail(422, 'Validation Failed', [{ resource: 'PullRequest', code: 'custom', message: `A pull request already exists for ${repo.owner}:${headName}.` }]);
      }
      const pull = {
        number: state.nextNumber(repo), title, body: str(body.body) ?? null, user, state: 'open' as const, head: headName,
        headSha: repo.branches.get(headName)!, base, draft: body.draft === true, merged: false, mergedAt: null,
        mergeCommitSha: null, mergedBy: null, createdAt: now(), updatedAt: now(),
      };
      repo.pulls.push(pull);
      return ok(pullDetailJson(state, repo, pull), 201);
    },
  },
  {
    method: 'PUT', pattern: '/repos/:owner/:repo/pulls/:number/merge', handle: ({ state, params, body, user }, repo) => {
      const pull = repo.pulls.find((p) => p.number === Number(params.number));
      if (!pull) return notFound();
      if (pull.state !== 'open' || pull.draft) return fail(405, 'Pull Request is not mergeable');
      const sha = str(body.sha);
      if (sha && sha !== pull.headSha) return fail(409, 'Head branch was modified. Review and try the merge again.');
      const method = str(body.merge_method) ?? 'merge';
      if (!['merge', 'squash', 'rebase'].includes(method)) return invalid('PullRequest', 'merge_method', 'invalid');
      const mergeSha = state.commit(repo, pull.base, str(body.commit_title) ?? `Merge pull request #${pull.number} from ${repo.owner}/${pull.head}`, user);
      Object.assign(pull, { state: 'closed', merged: true, mergedAt: now(), mergeCommitSha: mergeSha, mergedBy: user, updatedAt: now() });
      return ok({ sha: mergeSha, merged: true, message: 'Pull Request successfully merged' });
    },
  },
  {
    method: 'PUT', pattern: '/repos/:owner/:repo/collaborators/:user', handle: ({ state, params, body }, repo) => {
      const invitee = state.users.get(params.user);
      if (!invitee) return notFound();
      const permission = str(body.permission) ?? 'push';
      if (!PERMISSIONS.includes(permission)) return invalid('Repository', 'permission', 'invalid', `${permission} is not a valid permission.`);
      if (repo.collaborators.has(invitee.login)) {
        repo.collaborators.set(invitee.login, permission as Permission);
        return ok(null, 204);
      }
      const invitation = { id: state.id(), invitee: invitee.login, permission: permission as Permission, createdAt: now() };
      repo.invitations = repo.invitations.filter((i) => i.invitee !== invitee.login).concat(invitation);
      return ok({
        id: invitation.id, invitee: { login: invitee.login, id: invitee.id }, permissions: ROLE_NAME[permission as Permission],
        created_at: invitation.createdAt, html_url: `https://github.com/${repo.owner}/${repo.name}/invitations`,
      }, 201);
    },
  },
  {
    method: 'POST', pattern: '/repos/:owner/:repo/releases', handle: ({ state, body, user }, repo) => {
      const tag = str(body.tag_name);
      if (!tag) return invalid('Release', 'tag_name', 'missing_field');
      if (repo.releases.some((r) => r.tag === tag)) return invalid('Release', 'tag_name', 'already_exists');
      const target = str(body.target_commitish) ?? repo.defaultBranch;
      if (!repo.tags.has(tag)) {
        const sha = resolveRef(repo, target);
        if (!sha) return invalid('Release', 'target_commitish', 'invalid');
        repo.tags.set(tag, sha);
      }
      const release = { id: state.id(), tag, name: str(body.name) ?? null, body: str(body.body) ?? null, target, author: user, createdAt: now() };
      repo.releases.push(release);
      return ok(releaseJson(state, repo, release), 201);
    },
  },
  {
    method: 'POST', pattern: '/repos/:owner/:repo/actions/workflows/:id/dispatches', handle: ({ state, params, body }, repo) => {
      const wf = findWorkflow(repo, params.id);
      if (!wf) return notFound();
      const ref = str(body.ref);
      const headSha = ref ? resolveRef(repo, ref) : undefined;
      if (!ref || !headSha) return fail(422, `No ref found for: ${ref ?? ''}`);
      const inputs = body.inputs && typeof body.inputs === 'object' ? (body.inputs as Record<string, unknown>) : {};
      const unexpected = Object.keys(inputs).filter((k) => !wf.inputs.includes(k));
      if (unexpected.length) return fail(422, `Unexpected inputs provided: ${JSON.stringify(unexpected)}`);
      const missing = wf.inputs.filter((k) => typeof inputs[k] !== 'string' || !inputs[k]);
      if (missing.length) return fail(422, `Required input '${missing[0]}' not provided`);
      // The run title follows the workflow's `run-name`, which is how a reconcile can recognise this dispatch later.
      const title = (wf.runName ?? wf.name).replace(/\$\{\{\s*inputs\.(\w+)\s*\}\}/g, (_, k: string) => String(inputs[k] ?? ''));
      repo.runs.push({ id: state.id(), workflowId: wf.id, name: wf.name, displayTitle: title, event: 'workflow_dispatch', branch: ref.replace(/^refs\/heads\//, ''), headSha, status: 'queued', conclusion: null, createdAt: now() });
      return ok(null, 204);
    },
  },
];
