import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import { mintGrant, readEntries, recordGrant, schema, type JsonObject, type RequestView } from '../../kernel/index.ts';
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
    await stack.services.audit.sync();
    const audit = readEntries(stack.services.database.db, { requestId: view.id });
    const kinds: string[] = [];
    for await (const entry of audit) kinds.push(entry.kind);
    expect(kinds).toContain('execution.failed');
    sandbox.state.movePrHead(42, SEED.prHeadSha);
  });

  it('merges PR #42 once its owner approves, at the pinned head SHA', async () => {
    const view = await submit('github_merge_pull_request', { owner: 'acme', repo: 'web', pull_number: 42, sha: SEED.prHeadSha });
    expect(view.intent.summary).toBe("Merge PR #42 from fix/login into main of acme/web at 1a2b3c4 (checks passing, 1 approving review)");
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

describe('reconcile markers an agent cannot forge (issue 10)', () => {
  it('an issue body naming another request does not make that request look executed: it stays unknown for its owner', async () => {
    const db = stack.services.database.db;
    const issues = () => sandbox.received.filter((r) => r.method === 'POST' && r.path === '/repos/acme/web/issues').length;
    const victim = await submit('github_create_issue', { owner: 'acme', repo: 'web', title: 'Rotate the deploy key' });
    expect(victim.state).toBe('pending');
    // The agent knows the victim's id and digest (the pending answer names them) and writes every marker it could
    // compute from them into an issue of its own, which its owner approves without reading the body closely.
    const guesses = [victim.id, `countersign-${victim.id}`, victim.digest].map((m) => `<!-- countersign-request: ${m} -->`).join('\n');
    const forged = await submit('github_create_issue', { owner: 'acme', repo: 'web', title: 'Rotate the deploy key', body: guesses });
    await stack.decide(owner, forged.id, 'approve');
    expect((await awaitFinal(forged.id)).state).toBe('succeeded');
    const before = issues();
    // The victim, approved, dies mid-call after using its grant, before its write reached GitHub (as in the crash
    // matrix): only its own keyed marker upstream could prove it ran, and there is none.
    const grant = await mintGrant(stack.services.keys, { requestId: victim.id, digest: victim.digest, tool: 'github_create_issue' });
    await recordGrant(db, { jti: grant.jti, requestId: victim.id, digest: victim.digest, expiresAt: grant.expiresAt });
    await db.update(schema.grants).set({ consumedAt: new Date() }).where(eq(schema.grants.jti, grant.jti));
    await db.update(schema.requests).set({ state: 'executing', attempt: 1, leaseOwner: 'gone', leaseUntil: new Date(0) }).where(eq(schema.requests.id, victim.id));
    await stack.services.kernel.recover();
    const after = await stack.awaitRequest(agentId, victim.id, 0);
    expect(after).toMatchObject({ state: 'unknown', result: null, error: { code: 'outcome_unknown' } });
    expect(issues()).toBe(before);
  });
});

describe('a GitHub write whose answer does not say whether GitHub acted (issue 10)', () => {
  it('a 502 on creating an issue ends unknown for its owner, never failed: an agent told "failed" would ask again', async () => {
    const before = sandbox.received.filter((r) => r.method === 'POST' && r.path === '/repos/acme/web/issues').length;
    const view = await submit('github_create_issue', { owner: 'acme', repo: 'web', title: 'Answered 502' });
    sandbox.failNext({ status: 502, match: { method: 'POST', path: '/repos/acme/web/issues' } });
    await stack.decide(owner, view.id, 'approve');
    const first = await awaitFinal(view.id);
    expect(first.state, JSON.stringify(first.error)).not.toBe('failed');
    await stack.services.kernel.recover();
    const after = await stack.awaitRequest(agentId, view.id, 0);
    // Nothing with its marker upstream, and creating an issue twice is not harmless: its owner looks and decides.
    expect(after).toMatchObject({ state: 'unknown', error: { code: 'outcome_unknown' } });
    expect(after.error?.message).toContain('https://github.com/acme/web/issues');
    expect(sandbox.received.filter((r) => r.method === 'POST' && r.path === '/repos/acme/web/issues').length - before).toBe(1);
  });
});
