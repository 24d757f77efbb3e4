import type { SbCommit, SbIssue, SbPull, SbRepository } from './state.ts';

/** Fixed SHAs, so tests and demos can name them: the head of PR #42, main, and a stale branch. */
export const SEED = {
  prHeadSha: '1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b',
  mainSha: 'c0ffee1234567890abcdef1234567890abcdef12',
  oldFeatureSha: '9f8e7d6c5b4a39281706f5e4d3c2b1a098765432',
  releaseSha: '0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c',
} as const;

const DEPLOY_YML = `name: Deploy
run-name: Deploy \${{ inputs.sha }} to \${{ inputs.environment }}
on:
  workflow_dispatch:
    inputs:
      environment: { required: true, type: environment }
      sha: { required: true, type: string }
jobs:
  deploy:
    runs-on: ubuntu-latest
    environment: \${{ inputs.environment }}
    steps:
      - uses: actions/checkout@v4
        with: { ref: \${{ inputs.sha }} }
      - run: ./scripts/deploy.sh
`;

function day(n: number): string {
  return new Date(Date.UTC(2025, 4, n, 9, 30)).toISOString().replace('.000', '');
}

function pull(number: number, title: string, head: string, headSha: string, user: string, extra: Partial<SbPull> = {}): SbPull {
  return {
    number, title, body: null, user, state: 'open', head, headSha, base: 'main', draft: false, merged: false,
    mergedAt: null, mergeCommitSha: null, mergedBy: null, createdAt: day(number - 30), updatedAt: day(number - 29), ...extra,
  };
}

function issue(number: number, title: string, labels: string[], state: 'open' | 'closed' = 'open'): SbIssue {
  return {
    number, title, body: `Reported in the support queue (#${number}).`, user: 'bob', state, labels,
    createdAt: day(number), updatedAt: day(number + 1), closedAt: state === 'closed' ? day(number + 2) : null,
  };
}

/** The repository acme/web as a new sandbox starts it: open PR #42 "Fix login" with checks passing and one approval. */
export function seedRepository(): SbRepository {
  const commits = new Map<string, SbCommit>();
  const add = (sha: string, message: string, author: string, date: string) => commits.set(sha, { sha, message, author, date });
  add(SEED.releaseSha, 'Release 1.0.0', 'alice', day(1));
  add(SEED.mainSha, 'Merge pull request #37 from acme/feature/dark-mode', 'alice', day(8));
  add(SEED.oldFeatureSha, 'Try a new session cookie format', 'bob', day(2));
  add(SEED.prHeadSha, 'Fix login redirect loop on Safari', 'bob', day(11));
  const dark = '3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d';
  const router = '7e7e7e7e7e7e7e7e7e7e7e7e7e7e7e7e7e7e7e7e';
  const deps = 'de9de9de9de9de9de9de9de9de9de9de9de9de9d';
  const session = '5e55105e55105e55105e55105e55105e55105e55';
  const billing = 'b111b111b111b111b111b111b111b111b111b111';
  for (const [sha, message] of [[dark, 'Dark mode'], [router, 'New router'], [deps, 'Bump deps'], [session, 'Session store'], [billing, 'Billing page']]) {
    add(sha, message, 'bob', day(5));
  }
  return {
    id: 700_001, owner: 'acme', name: 'web', description: 'Acme web app', private: true, defaultBranch: 'main',
    branches: new Map([
      ['main', SEED.mainSha], ['fix/login', SEED.prHeadSha], ['old-feature', SEED.oldFeatureSha],
      ['deps/bump', deps], ['refactor/session', session], ['wip/billing', billing],
    ]),
    tags: new Map([['v1.0.0', SEED.releaseSha]]),
    commits,
    files: new Map([
      ['README.md', '# Acme web\n\nThe Acme web app. Run `npm start`.\n'],
      ['package.json', '{\n  "name": "acme-web",\n  "version": "1.0.0"\n}\n'],
      ['src/login.ts', 'export function login(user: string): string {\n  return `/home?u=${user}`;\n}\n'],
      ['.github/workflows/deploy.yml', DEPLOY_YML],
      ['.github/workflows/ci.yml', 'name: CI\non: [push, pull_request]\njobs: {}\n'],
    ]),
    pulls: [
      pull(37, 'Add dark mode', 'feature/dark-mode', dark, 'alice', { state: 'closed', merged: true, mergedAt: day(8), mergeCommitSha: SEED.mainSha, mergedBy: 'alice' }),
      pull(38, 'Experiment: new router', 'exp/router', router, 'bob', { state: 'closed' }),
      pull(39, 'Bump dependencies', 'deps/bump', deps, 'acme-bot'),
      pull(40, 'Refactor session store', 'refactor/session', session, 'alice'),
      pull(41, 'WIP: billing page', 'wip/billing', billing, 'bob', { draft: true }),
      pull(42, 'Fix login', 'fix/login', SEED.prHeadSha, 'bob', { body: 'Fixes the redirect loop on Safari (#1).' }),
    ],
    issues: [
      issue(1, 'Login fails on Safari', ['bug']),
      issue(2, 'Add dark mode', ['enhancement'], 'closed'),
      issue(3, 'Setup guide is outdated', ['docs']),
      issue(4, 'Crash when the session expires', ['bug']),
      issue(5, 'Support SSO', ['enhancement']),
    ],
    comments: [{ id: 9001, issue: 1, body: 'I can reproduce this on Safari 17.', user: 'alice', createdAt: day(2) }],
    checkRuns: [
      { id: 8001, name: 'build', headSha: SEED.prHeadSha, status: 'completed', conclusion: 'success' },
      { id: 8002, name: 'test', headSha: SEED.prHeadSha, status: 'completed', conclusion: 'success' },
      { id: 8003, name: 'build', headSha: SEED.mainSha, status: 'completed', conclusion: 'success' },
    ],
    reviews: [
      { id: 8101, pull: 42, user: 'alice', state: 'COMMENTED', commitId: SEED.prHeadSha, submittedAt: day(11) },
      { id: 8102, pull: 42, user: 'alice', state: 'APPROVED', commitId: SEED.prHeadSha, submittedAt: day(12) },
    ],
    workflows: [
      { id: 1001, name: 'CI', path: '.github/workflows/ci.yml', inputs: [] },
      { id: 1002, name: 'Deploy', path: '.github/workflows/deploy.yml', inputs: ['environment', 'sha'], runName: 'Deploy ${{ inputs.sha }} to ${{ inputs.environment }}' },
    ],
    runs: [
      { id: 6001, workflowId: 1001, name: 'CI', displayTitle: 'Merge pull request #37', event: 'push', branch: 'main', headSha: SEED.mainSha, status: 'completed', conclusion: 'success', createdAt: day(8) },
      { id: 6002, workflowId: 1002, name: 'Deploy', displayTitle: `Deploy ${SEED.mainSha} to staging`, event: 'workflow_dispatch', branch: 'main', headSha: SEED.mainSha, status: 'completed', conclusion: 'success', createdAt: day(9) },
      { id: 6003, workflowId: 1001, name: 'CI', displayTitle: 'Fix login redirect loop on Safari', event: 'pull_request', branch: 'fix/login', headSha: SEED.prHeadSha, status: 'completed', conclusion: 'success', createdAt: day(11) },
    ],
    releases: [{ id: 4001, tag: 'v1.0.0', name: 'Acme web 1.0.0', body: 'First release.', target: 'main', author: 'alice', createdAt: day(1) }],
    collaborators: new Map([['alice', 'admin'], ['bob', 'push'], ['acme-bot', 'maintain']]),
    invitations: [],
  };
}
