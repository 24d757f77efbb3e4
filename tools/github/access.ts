import { z } from 'zod';
import type { ToolResult } from '../../kernel/index.ts';
import { defineTool, type ToolSpec } from '../spec.ts';
import { refuse } from './checks.ts';
import type { GithubClient } from './client.ts';
import { repoField } from './present.ts';
import { ownerRepo } from './schemas.ts';

/** Granting a person access to a repository. Pinned to their current access, so the approver saw the real change. */

const PERMISSIONS = ['pull', 'triage', 'push', 'maintain', 'admin'] as const;
type Permission = (typeof PERMISSIONS)[number];

/** GitHub's API names on the left; the role names people see on github.com on the right. */
const ROLE: Record<Permission, string> = { pull: 'read', triage: 'triage', push: 'write', maintain: 'maintain', admin: 'admin' };

const addCollaborator = z.strictObject({
  ...ownerRepo,
  username: z.string().regex(/^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$/, 'username must be a GitHub login: letters, digits and hyphens, at most 39').describe('GitHub login of the person'),
  permission: z.enum(PERMISSIONS).describe('pull (read), triage, push (write), maintain or admin'),
});

async function currentRole(gh: GithubClient, owner: string, repo: string, username: string): Promise<string> {
  const { data } = await gh.call(`reading the access of @${username} to ${owner}/${repo}`, (o) =>
    o.rest.repos.getCollaboratorPermissionLevel({ owner, repo, username }));
  return data.role_name || data.permission;
}

function granted(owner: string, repo: string, username: string, role: string, invited: boolean, id: number | null): ToolResult {
  return {
    data: { username, permission: role, invited, invitation_id: id },
    text: invited
      ? `Invited @${username} to ${owner}/${repo} with ${role} access (it applies once they accept)`
      : `@${username} now has ${role} access to ${owner}/${repo}`,
  };
}

export function accessTools(gh: GithubClient): ToolSpec[] {
  return [
    defineTool({
      name: 'github_add_collaborator', title: 'Add collaborator', impact: 'high', consequence: 'grants-access',
      description: 'Give a person access to a repository with a permission (invites them if they are not a collaborator yet).',
      input: addCollaborator,
      describe: async ({ owner, repo, username, permission }) => {
        const user = await gh.find(`looking up user @${username}`, (o) => o.rest.users.getByUsername({ username }));
        if (!user) throw refuse(`There is no GitHub user @${username}: check the login.`);
        const current = await currentRole(gh, owner, repo, user.data.login);
        const role = ROLE[permission];
        const now = current && current !== 'none' ? ` (currently ${current})` : '';
        return {
          summary: `Give @${user.data.login} ${role} access to ${owner}/${repo}${now}`,
          // Access can be removed later, but what someone read or did with it cannot be undone.
          consequence: 'grants-access', reversible: false, pins: { current_permission: current || 'none' },
          fields: [
            repoField(owner, repo), { label: 'Person', kind: 'person', value: `@${user.data.login}` },
            { label: 'Permission', kind: 'permission', value: role },
            { label: 'Current permission', kind: 'permission', value: current || 'none' },
          ],
        };
      },
      execute: async ({ owner, repo, username, permission }) => {
        const res = await gh.call(`adding @${username} to ${owner}/${repo}`, (o) => o.rest.repos.addCollaborator({ owner, repo, username, permission }));
        const invitation = res.status === 201 && res.data ? res.data : null;
        return granted(owner, repo, username, ROLE[permission], invitation !== null, invitation?.id ?? null);
      },
      reconcile: async ({ owner, repo, username, permission }) => {
        const role = ROLE[permission];
        if ((await currentRole(gh, owner, repo, username)) === role) return granted(owner, repo, username, role, false, null);
        const { data } = await gh.call(`listing invitations of ${owner}/${repo}`, (o) => o.rest.repos.listInvitations({ owner, repo, per_page: 100 }));
        const invite = data.find((i) => i.invitee?.login.toLowerCase() === username.toLowerCase() && i.permissions === role);
        return invite ? granted(owner, repo, username, role, true, invite.id) : null;
      },
      rerunSafe: 'adding a collaborator with a permission is idempotent at GitHub',
    }),
  ];
}
