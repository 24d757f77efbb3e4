import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JsonObject, RequestView } from '../../kernel/index.ts';
import { createGithubConnector, startGithubSandbox, type GithubSandbox } from '../../tools/github/index.ts';
import { SEED } from '../../tools/github/sandbox/index.ts';
import { startStack, type Stack, type TestApprover } from '../support/harness.ts';

/** The GitHub connector behind the real kernel: policy, passkey approval, grant, host re-describe and pins. */

const CONFIG = `
policy:
  default: approve
  rules:
    - id: reads
      tools: [github_get_*, github_list_*]
      decision: allow
`;

let stack: Stack;
let sandbox: GithubSandbox;
let agentId: string;
let owner: TestApprover;

beforeAll(async () => {
  sandbox = await startGithubSandbox();
  const github = createGithubConnector({ token: 'ghp_FlowSuiteToken000000000000000000000', baseUrl: sandbox.url, sandbox: true });
  stack = await startStack({ config: CONFIG, connectors: [github] });
  ({ agentId } = await stack.addAgent('gh-agent', 'owner@example.com'));
  owner = await stack.enrollApprover('owner@example.com');
});
afterAll(async () => {
  await stack?.close();
  await sandbox?.close();
});

const submit = (tool: string, args: JsonObject) => stack.submit(agentId, tool, args);
const awaitFinal = (requestId: string) => stack.awaitRequest(agentId, requestId);
const merges = () => sandbox.received.filter((r) => r.method === 'PUT' && r.path.endsWith('/merge'));

describe('GitHub through the kernel', () => {
  it('allows a read at once, labelled SANDBOX', async () => {
    const view = await submit('github_get_pull_request', { owner: 'acme', repo: 'web', pull_number: 42 });
    expect(view.state).toBe('succeeded');
    expect(view.intent).toMatchObject({ summary: 'Read pull request #42 of acme/web', sandbox: true });
    expect(view.result?.text).toContain('checks passing, 1 approving review');
  });

  it('refuses to merge when the checks verdict changed after the request was described, without calling merge', async () => {
    const view = await submit('github_merge_pull_request', { owner: 'acme', repo: 'web', pull_number: 42, sha: SEED.prHeadSha });
    expect(view.state).toBe('pending');
    expect(view.intent.pins).toMatchObject({ head_sha: SEED.prHeadSha, checks: 'passing' });
    sandbox.state.setChecks(SEED.prHeadSha, 'failure');
    await stack.decide(owner, view.id, 'approve');
    const final = await awaitFinal(view.id);
    expect(final.state).toBe('failed');
    expect(final.error?.code).toBe('pin_drift');
    expect(final.error?.message).toContain('checks was "passing", now "failing"');
    expect(merges()).toHaveLength(0);
    sandbox.state.setChecks(SEED.prHeadSha, 'success');
  });

  it('refuses to merge when the PR head moved after the request was approved, and never calls merge', async () => {
    const view = await submit('github_merge_pull_request', { owner: 'acme', repo: 'web', pull_number: 42, sha: SEED.prHeadSha });
    expect(view.state).toBe('pending');
    const moved = 'b'.repeat(40);
    sandbox.state.movePrHead(42, moved);
    await stack.decide(owner, view.id, 'approve');
    const final = await awaitFinal(view.id);
    expect(final.state).toBe('failed');
    expect(final.error?.code).toBe('pin_drift');
    expect(final.error?.message).toContain('bbbbbbb');
    expect(merges()).toHaveLength(0);
    const audit = await stack.services.audit.read({ requestId: view.id });
    const kinds: string[] = [];
    for await (const entry of audit) kinds.push(entry.kind);
    expect(kinds).toContain('execution.failed');
    sandbox.state.movePrHead(42, SEED.prHeadSha);
  });

  it('merges PR #42 once its owner approves, at the pinned head SHA', async () => {
    const view = await submit('github_merge_pull_request', { owner: 'acme', repo: 'web', pull_number: 42, sha: SEED.prHeadSha });
    expect(view.intent.summary).toBe("Merge PR #42 'Fix login' from fix/login into main of acme/web at 1a2b3c4 (checks passing, 1 approving review)");
    expect(view.intent).toMatchObject({ consequence: 'changes-code', reversible: false, sandbox: true });
    await stack.decide(owner, view.id, 'approve');
    const final = await awaitFinal(view.id);
    expect(final.state).toBe('succeeded');
    expect(final.result?.data).toMatchObject({ merged: true, pull_number: 42 });
    expect(merges()).toHaveLength(1);
    expect(merges()[0].body).toMatchObject({ sha: SEED.prHeadSha });
    expect(JSON.stringify(final)).not.toContain('ghp_FlowSuiteToken');
  });
});
