import { z } from 'zod';
import { defineTool, type ToolSpec } from '../spec.ts';
import { pinned, refuse } from './checks.ts';
import type { GithubClient } from './client.ts';
import { branchField, commitField, repoField, short } from './present.ts';
import { branch, ownerRepo, sha } from './schemas.ts';

/** Creating and deleting branches. Both pin the commit involved, so what executes is the commit the approver saw. */

const createBranch = z.strictObject({
  ...ownerRepo,
  branch: branch.describe('Name of the new branch'),
  from_sha: sha.optional().describe('Commit to start from (give this or from_branch; default: the default branch)'),
  from_branch: branch.optional().describe('Branch to start from, at its current head'),
});
const deleteBranch = z.strictObject({ ...ownerRepo, branch: branch.describe('Branch to delete') });

/** Looks up where a branch points, or null when there is no such branch. */
export async function branchSha(gh: GithubClient, owner: string, repo: string, name: string): Promise<string | null> {
  const ref = await gh.find(`reading branch ${name} of ${owner}/${repo}`, (o) => o.rest.git.getRef({ owner, repo, ref: `heads/${name}` }));
  return ref?.data.object.sha ?? null;
}

export async function defaultBranch(gh: GithubClient, owner: string, repo: string): Promise<string> {
  const { data } = await gh.call(`reading repository ${owner}/${repo}`, (o) => o.rest.repos.get({ owner, repo }));
  return data.default_branch;
}

export function branchTools(gh: GithubClient): ToolSpec[] {
  return [
    defineTool({
      name: 'github_create_branch', title: 'Create branch', impact: 'write', consequence: 'changes-code',
      description: 'Create a branch at a commit (from_sha) or at the head of another branch (from_branch, default: the default branch).',
      input: createBranch,
      describe: async ({ owner, repo, branch: name, from_sha, from_branch }) => {
        if (from_sha && from_branch) throw refuse('Give either from_sha or from_branch, not both.');
        const existing = await branchSha(gh, owner, repo, name);
        if (existing) throw refuse(`Branch ${name} already exists in ${owner}/${repo} (at ${short(existing)}): choose another name.`);
        let source: string;
        let fromSha: string;
        let fromBranch: string | null = null;
        if (from_sha) {
          const commit = await gh.find(`reading commit ${short(from_sha)} of ${owner}/${repo}`, (o) => o.rest.repos.getCommit({ owner, repo, ref: from_sha }), [422]);
          if (!commit) throw refuse(`Commit ${from_sha} does not exist in ${owner}/${repo}: check the SHA.`);
          [source, fromSha] = [`commit ${short(from_sha)}`, commit.data.sha];
        } else {
          const base = from_branch ?? (await defaultBranch(gh, owner, repo));
          const head = await branchSha(gh, owner, repo, base);
          if (!head) throw refuse(`Branch ${base} does not exist in ${owner}/${repo}: check from_branch.`);
          [source, fromSha, fromBranch] = [`${base} at ${short(head)}`, head, base];
        }
        return {
          summary: `Create branch ${name} of ${owner}/${repo} from ${source}`,
          consequence: 'changes-code', reversible: true, pins: { from_sha: fromSha },
          fields: [repoField(owner, repo), branchField('New branch', name), commitField('From commit', fromSha),
            ...(fromBranch ? [branchField('From branch', fromBranch)] : [])],
        };
      },
      execute: async ({ owner, repo, branch: name }, ctx) => {
        const from = pinned(ctx, 'from_sha');
        const { data } = await gh.call(`creating branch ${name} of ${owner}/${repo}`, (o) => o.rest.git.createRef({ owner, repo, ref: `refs/heads/${name}`, sha: from }));
        return { data: { ref: data.ref, sha: data.object.sha }, text: `Created branch ${name} of ${owner}/${repo} at ${short(data.object.sha)}` };
      },
      reconcile: async ({ owner, repo, branch: name }, ctx) => {
        const at = await branchSha(gh, owner, repo, name);
        if (at !== pinned(ctx, 'from_sha')) return null;
        return { data: { ref: `refs/heads/${name}`, sha: at }, text: `Created branch ${name} of ${owner}/${repo} at ${short(at)}` };
      },
      rerunSafe: 'GitHub refuses to create a branch that already exists',
    }),
    defineTool({
      name: 'github_delete_branch', title: 'Delete branch', impact: 'high', consequence: 'deletes',
      description: 'Delete a branch (not the default branch). Commits reachable only from it may be lost.',
      input: deleteBranch,
      describe: async ({ owner, repo, branch: name }) => {
        const at = await branchSha(gh, owner, repo, name);
        if (!at) throw refuse(`Branch ${name} does not exist in ${owner}/${repo}: check the name.`);
        const main = await defaultBranch(gh, owner, repo);
        if (main === name) throw refuse(`${name} is the default branch of ${owner}/${repo}; GitHub refuses to delete it. Change the default branch first.`);
        return {
          summary: `Delete branch ${name} of ${owner}/${repo} (at ${short(at)})`,
          consequence: 'deletes', reversible: false, pins: { branch_sha: at },
          fields: [repoField(owner, repo), branchField('Branch', name), commitField('At commit', at)],
        };
      },
      execute: async ({ owner, repo, branch: name }) => {
        await gh.call(`deleting branch ${name} of ${owner}/${repo}`, (o) => o.rest.git.deleteRef({ owner, repo, ref: `heads/${name}` }));
        return { data: { deleted: true, branch: name }, text: `Deleted branch ${name} of ${owner}/${repo}` };
      },
      reconcile: async ({ owner, repo, branch: name }) => {
        // Gone means the delete happened: describe refused the request unless the branch existed.
        if (await branchSha(gh, owner, repo, name)) return null;
        return { data: { deleted: true, branch: name }, text: `Deleted branch ${name} of ${owner}/${repo}` };
      },
      rerunSafe: 'a branch is deleted once; GitHub refuses to delete one that is gone',
    }),
  ];
}
