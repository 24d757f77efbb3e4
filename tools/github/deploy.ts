import { z } from 'zod';
import type { ToolResult } from '../../kernel/index.ts';
import { defineTool, type ToolSpec } from '../spec.ts';
import { pinned, refuse } from './checks.ts';
import type { GithubClient } from './client.ts';
import { defaultBranch } from './branches.ts';
import { branchField, commitField, repoField, short } from './present.ts';
import { branch, ownerRepo, sha } from './schemas.ts';

/**
 * A deployment: dispatching a workflow that deploys one commit to one environment (inputs {environment, sha}).
 * The workflow file runs from `ref`; the commit it deploys is the pinned `sha`.
 */

const dispatch = z.strictObject({
  ...ownerRepo,
  workflow_id: z.union([
    z.number().int().positive(),
    z.string().regex(/^[A-Za-z0-9._-]+\.ya?ml$/, 'workflow_id must be a workflow file name like deploy.yml, or its numeric id'),
  ]).describe('Workflow file name (deploy.yml) or id'),
  ref: branch.describe('Branch whose version of the workflow runs'),
  environment: z.string().regex(/^[A-Za-z0-9 ._/-]{1,255}$/, 'environment must be an environment name: letters, digits, spaces and . _ / -').describe('Environment to deploy to, e.g. production'),
  sha: sha.describe('Commit to deploy'),
});

function dispatched(owner: string, repo: string, workflow: string, ref: string, environment: string, commit: string, runId: number | null): ToolResult {
  return {
    data: { dispatched: true, workflow, ref, environment, sha: commit, run_id: runId },
    text: `Dispatched ${workflow} on ${ref} to deploy ${short(commit)} of ${owner}/${repo} to ${environment}`,
  };
}

export function deployTools(gh: GithubClient): ToolSpec[] {
  return [
    defineTool({
      name: 'github_dispatch_workflow', title: 'Deploy via workflow', impact: 'high', consequence: 'deploys',
      description: 'Deploy a commit to an environment by dispatching a deployment workflow with inputs {environment, sha}.',
      input: dispatch,
      describe: async ({ owner, repo, workflow_id, ref, environment, sha: commitSha }) => {
        const wf = await gh.find(`reading workflow ${workflow_id} of ${owner}/${repo}`, (o) => o.rest.actions.getWorkflow({ owner, repo, workflow_id }));
        if (!wf) throw refuse(`There is no workflow ${workflow_id} in ${owner}/${repo}: check workflow_id (a file name in .github/workflows).`);
        const commit = await gh.find(`reading commit ${short(commitSha)} of ${owner}/${repo}`, (o) => o.rest.repos.getCommit({ owner, repo, ref: commitSha }), [422]);
        if (!commit) throw refuse(`Commit ${commitSha} does not exist in ${owner}/${repo}: check sha.`);
        const main = await defaultBranch(gh, owner, repo);
        const file = wf.data.path.split('/').pop() ?? String(workflow_id);
        return {
          // The environment is the agent's (its pattern allows spaces, not quotes): quoted, so it reads as one name.
          summary: `Deploy commit ${short(commit.data.sha)} of ${owner}/${repo} to environment "${environment}" via workflow ${file}`,
          consequence: 'deploys', reversible: false, pins: { sha: commit.data.sha, default_branch: main },
          fields: [
            repoField(owner, repo), commitField('Commit', commit.data.sha), { label: 'Environment', kind: 'environment', value: environment },
            { label: 'Workflow', kind: 'text', value: wf.data.path }, branchField('Workflow from branch', ref),
          ],
        };
      },
      execute: async ({ owner, repo, workflow_id, ref, environment }, ctx) => {
        const commit = pinned(ctx, 'sha');
        await gh.call(`dispatching workflow ${workflow_id} of ${owner}/${repo}`, (o) =>
          o.rest.actions.createWorkflowDispatch({ owner, repo, workflow_id, ref, inputs: { environment, sha: commit } }));
        return dispatched(owner, repo, String(workflow_id), ref, environment, commit, null);
      },
      reconcile: async ({ owner, repo, workflow_id, ref, environment }, ctx) => {
        // A dispatch returns no id. Runs are recognisable by their title when the workflow sets
        // `run-name: Deploy ${{ inputs.sha }} to ${{ inputs.environment }}`; without it we cannot tell, and say so (null).
        const commit = pinned(ctx, 'sha');
        const { data } = await gh.call(`listing runs of workflow ${workflow_id} of ${owner}/${repo}`, (o) =>
          o.rest.actions.listWorkflowRuns({ owner, repo, workflow_id, event: 'workflow_dispatch', branch: ref, per_page: 50 }));
        const run = data.workflow_runs.find((r) => r.display_title.includes(commit) && r.display_title.includes(environment));
        return run ? dispatched(owner, repo, String(workflow_id), ref, environment, commit, run.id) : null;
      },
      check: ({ owner, repo, workflow_id, environment, sha: commitSha }) =>
        `the runs of workflow ${workflow_id} for a deploy of ${commitSha.slice(0, 7)} to ${environment}: https://github.com/${owner}/${repo}/actions/workflows/${workflow_id}`,
    }),
  ];
}
