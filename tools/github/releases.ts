import { z } from 'zod';
import type { ToolResult } from '../../kernel/index.ts';
import { defineTool, type ToolSpec } from '../spec.ts';
import { pinned, refuse } from './checks.ts';
import type { GithubClient } from './client.ts';
import { defaultBranch } from './branches.ts';
import { branchField, commitField, repoField, short } from './present.ts';
import { ownerRepo } from './schemas.ts';

/**
 * Creating a release. The target is resolved to a commit when described and that commit is what gets tagged,
 * so a push to the branch between approval and execution cannot change what is released.
 */

const createRelease = z.strictObject({
  ...ownerRepo,
  tag_name: z.string().min(1).max(255).regex(/^[^\s~^:?*[\\]+$/, 'tag_name must be a valid git tag name (no spaces or ~^:?*[\\)').describe('Tag to create or use, e.g. v1.2.0'),
  name: z.string().max(256).optional().describe('Release title'),
  body: z.string().max(125_000).optional().describe('Release notes (Markdown)'),
  target_commitish: z.string().min(1).max(255).optional().describe('Branch or commit SHA to tag (default: the default branch); ignored if the tag exists'),
});

function released(owner: string, repo: string, r: { id: number; tag_name: string; html_url: string }): ToolResult {
  return { data: { id: r.id, tag_name: r.tag_name, html_url: r.html_url }, text: `Created release ${r.tag_name} of ${owner}/${repo}: ${r.html_url}` };
}

export function releaseTools(gh: GithubClient): ToolSpec[] {
  return [
    defineTool({
      name: 'github_create_release', title: 'Create release', impact: 'write', consequence: 'writes',
      description: 'Publish a release for a tag (the tag is created at target_commitish if it does not exist).',
      input: createRelease,
      describe: async ({ owner, repo, tag_name, name, body, target_commitish }) => {
        const existing = await gh.find(`reading release ${tag_name} of ${owner}/${repo}`, (o) => o.rest.repos.getReleaseByTag({ owner, repo, tag: tag_name }));
        if (existing) throw refuse(`A release for tag ${tag_name} already exists in ${owner}/${repo} (${existing.data.html_url}): choose another tag.`);
        const tag = await gh.find(`reading tag ${tag_name} of ${owner}/${repo}`, (o) => o.rest.git.getRef({ owner, repo, ref: `tags/${tag_name}` }));
        let target: string;
        let targetSha: string;
        if (tag) {
          [target, targetSha] = [`existing tag ${tag_name}`, tag.data.object.sha];
        } else {
          const ref = target_commitish ?? (await defaultBranch(gh, owner, repo));
          const commit = await gh.find(`reading ${ref} of ${owner}/${repo}`, (o) => o.rest.repos.getCommit({ owner, repo, ref }), [422]);
          if (!commit) throw refuse(`${ref} is not a branch or commit of ${owner}/${repo}: check target_commitish.`);
          [target, targetSha] = [/^[0-9a-f]{40}$/.test(ref) ? 'commit' : ref, commit.data.sha];
        }
        const agentText = [...(name ? [{ label: 'Release title', text: name }] : []), ...(body ? [{ label: 'Release notes', text: body }] : [])];
        return {
          summary: `Create release ${tag_name} of ${owner}/${repo} at ${target} (${short(targetSha)})`,
          consequence: 'writes', reversible: true, pins: { target_sha: targetSha },
          fields: [
            repoField(owner, repo), { label: 'Tag', kind: 'text', value: tag_name }, commitField('Commit', targetSha),
            ...(!tag && target !== 'commit' ? [branchField('From branch', target)] : []),
          ],
          ...(agentText.length ? { agentText } : {}),
        };
      },
      execute: async ({ owner, repo, tag_name, name, body }, ctx) => {
        const { data } = await gh.call(`creating release ${tag_name} of ${owner}/${repo}`, (o) =>
          o.rest.repos.createRelease({ owner, repo, tag_name, target_commitish: pinned(ctx, 'target_sha'), ...(name ? { name } : {}), ...(body ? { body } : {}) }));
        return released(owner, repo, data);
      },
      reconcile: async ({ owner, repo, tag_name }) => {
        // Describe refused tags that already had a release, so a release there now is the one we made.
        const found = await gh.find(`reading release ${tag_name} of ${owner}/${repo}`, (o) => o.rest.repos.getReleaseByTag({ owner, repo, tag: tag_name }));
        return found ? released(owner, repo, found.data) : null;
      },
      rerunSafe: 'GitHub refuses a second release for one tag',
    }),
  ];
}
