import { Octokit } from '@octokit/rest';
import { createGithubConnector } from '../tools/github/index.ts';
import { SEED, startGithubSandbox } from '../tools/github/sandbox/index.ts';
import type { ToolSpec } from '../tools/spec.ts';
import type { BenchResult } from './types.ts';
import { paired } from './measure.ts';

/**
 * What the GitHub connector adds on top of Octokit, against the local sandbox (loopback only):
 * - describing a merge (the PR, its check runs, reviews and the repository, in one parallel round) against the bare
 *   Octokit call that reads the same PR: the price of a legible, pinned intent in round trips;
 * - listing pull requests through the tool (cursor, trimming) against the bare Octokit list call.
 */

export async function run(): Promise<BenchResult[]> {
  const sandbox = await startGithubSandbox();
  try {
    const token = 'ghp_bench000000000000000000000000000000';
    const connector = createGithubConnector({ token, baseUrl: sandbox.url, sandbox: true });
    const octokit = new Octokit({ auth: token, baseUrl: sandbox.url });
    const tool = (name: string): ToolSpec => connector.tools.find((t) => t.name === name)!;
    const repo = { owner: 'acme', repo: 'web' };
    const ctx = { requestId: 'bench', idempotencyKey: 'bench', pins: {}, marker: 'm-bench' };

    const merge = tool('github_merge_pull_request');
    const [describe, getPr] = await paired(
      300,
      () => merge.describe({ ...repo, pull_number: 42, sha: SEED.prHeadSha }),
      () => octokit.rest.pulls.get({ ...repo, pull_number: 42 }),
    );
    const list = tool('github_list_pull_requests');
    const [listed, bare] = await paired(
      300,
      () => list.execute({ ...repo, per_page: 2 }, ctx),
      () => octokit.rest.pulls.list({ ...repo, per_page: 2 }),
    );
    return [
      { name: 'github: describe merge (4 look-ups in parallel)', value: describe, unit: 'µs', baseline: { name: 'octokit pulls.get', value: getPr, unit: 'µs' }, goal: { max: 5 * getPr }, target: 'at most 5x the bare get in-process (about 4x expected (client and sandbox share one thread, so four requests cost four CPU slices); one round trip of wall time against api.github.com)' },
      { name: 'github: list_pull_requests tool', value: listed, unit: 'µs', baseline: { name: 'octokit pulls.list', value: bare, unit: 'µs' }, target: 'within 20% of the bare call', goal: { max: 1.2 * bare } },
    ];
  } finally {
    await sandbox.close();
  }
}
