import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KernelError } from '../../kernel/index.ts';
import { createGithubConnector } from '../../tools/github/index.ts';
import { SEED } from '../../tools/github/sandbox/index.ts';
import { harness, kernelError, TOKEN, type Harness } from './github-support.ts';

let h: Harness;
beforeEach(async () => {
  h = await harness();
});
afterEach(() => h.close());

const repo = { owner: 'acme', repo: 'web' };
const getRepo = () => h.run('github_get_repository', repo);

describe('GitHub connector: upstream errors', () => {
  const cases: [number, Record<string, string>, string][] = [
    [401, {}, 'GitHub rejected the credentials (401 "Bad credentials") while reading repository acme/web. Check that GITHUB_TOKEN holds a valid, unexpired token.'],
    [403, {}, 'GitHub refused reading repository acme/web (403 "Resource not accessible by integration"): the token lacks permission. Give the token access to this repository (scopes or fine-grained permissions), or ask a repository admin.'],
    [404, {}, 'GitHub found nothing while reading repository acme/web (404 "Not Found"). Check the owner, repository, number or name; a private repository the token cannot see also looks like this.'],
    [409, {}, 'GitHub refused reading repository acme/web because the state changed (409 "Conflict"). Read it again, review what changed, and make a new request.'],
    [429, { 'retry-after': '30' }, 'GitHub is rate limiting this token (429 "API rate limit exceeded") while reading repository acme/web. Retry after 30 seconds.'],
    [500, {}, `GitHub failed while reading repository acme/web (500 "Server Error"). The problem is on GitHub's side; for a write, check whether it happened before retrying.`],
    [503, {}, `GitHub failed while reading repository acme/web (503 "Service Unavailable"). The problem is on GitHub's side; for a write, check whether it happened before retrying.`],
  ];
  it.each(cases)('maps %i to a clear upstream_error', async (status, headers, message) => {
    h.sandbox.failNext({ status, headers });
    const error = await kernelError(getRepo());
    expect(error.code).toBe('upstream_error');
    expect(error.message).toBe(message);
    expect(error.details?.status).toBe(status);
  });

  it('surfaces Retry-After seconds on 429, and the reset time when the primary rate limit is exhausted (403)', async () => {
    h.sandbox.failNext({ status: 429, headers: { 'retry-after': '17' } });
    expect((await kernelError(getRepo())).details).toMatchObject({ status: 429, retryAfterSeconds: 17 });
    const reset = Math.floor(Date.now() / 1000) + 120;
    h.sandbox.failNext({ status: 403, headers: { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(reset) }, body: { message: 'API rate limit exceeded for user ID 1.' } });
    const error = await kernelError(getRepo());
    expect(error.message).toMatch(/^GitHub is rate limiting this token \(403 "API rate limit exceeded for user ID 1\."\) while reading repository acme\/web\. Retry after 1[12]\d seconds\.$/);
    expect(error.details?.retryAfterSeconds).toBeGreaterThan(100);
  });

  it('names the fields GitHub rejected on 422', async () => {
    h.sandbox.failNext({ status: 422, body: { message: 'Validation Failed', errors: [{ resource: 'Issue', field: 'title', code: 'missing_field' }] } });
    const error = await kernelError(h.run('github_create_issue', { ...repo, title: 'x' }));
    expect(error.message).toBe('GitHub rejected the input for creating an issue in acme/web (422 "Validation Failed: Issue title missing_field"). Fix the arguments and make a new request.');
  });

  it('maps a 405 not-mergeable refusal', async () => {
    const args = { ...repo, pull_number: 42, sha: SEED.prHeadSha };
    const intent = await h.describe('github_merge_pull_request', args);
    h.sandbox.failNext({ status: 405, body: { message: 'Pull Request is not mergeable' }, match: { method: 'PUT' } });
    const error = await kernelError(h.tool('github_merge_pull_request').execute(args, { requestId: 'r', idempotencyKey: 'k', pins: intent.pins, marker: 'm-r' }));
    expect(error.message).toContain('GitHub would not allow merging PR #42 of acme/web (405 "Pull Request is not mergeable")');
  });

  it('says when GitHub cannot be reached', async () => {
    const url = h.sandbox.url;
    await h.sandbox.close();
    const connector = createGithubConnector({ token: TOKEN, baseUrl: url, sandbox: true });
    const tool = connector.tools.find((t) => t.name === 'github_get_repository')!;
    const error = await kernelError(tool.execute(repo, { requestId: 'r', idempotencyKey: 'k', pins: {}, marker: 'm-r' }));
    expect(error.message).toMatch(new RegExp(`^Could not reach GitHub at ${url} while reading repository acme/web \\(.+\\)\\. Check the network`));
    h = await (await import('./github-support.ts')).harness(); // afterEach closes a live sandbox
  });

  it('never lets the token out: not in results, errors, details, or what the sandbox kept', async () => {
    h.sandbox.failNext({ status: 401, body: { message: `Bad credentials: ${TOKEN}` } });
    const echoed = await kernelError(getRepo());
    expect(echoed.message).toContain('[REDACTED]');
    for (const status of [403, 404, 409, 422, 429, 500]) {
      h.sandbox.failNext({ status, headers: { 'retry-after': '1' } });
      await getRepo().catch(() => {});
    }
    const calls: [string, Record<string, unknown>][] = [
      ['github_get_repository', repo], ['github_list_pull_requests', { ...repo, per_page: 1 }],
      ['github_get_pull_request', { ...repo, pull_number: 42 }], ['github_list_issues', repo],
      ['github_get_file_contents', { ...repo, path: 'README.md' }], ['github_list_workflow_runs', repo],
      ['github_create_issue', { ...repo, title: 't', body: 'b' }], ['github_create_issue_comment', { ...repo, issue_number: 1, body: 'c' }],
      ['github_create_branch', { ...repo, branch: 'nb' }], ['github_create_pull_request', { ...repo, title: 't', head: 'nb', base: 'main' }],
      ['github_add_collaborator', { ...repo, username: 'mallory', permission: 'pull' }], ['github_create_release', { ...repo, tag_name: 'v9' }],
      ['github_dispatch_workflow', { ...repo, workflow_id: 'deploy.yml', ref: 'main', environment: 'staging', sha: SEED.mainSha }],
      ['github_merge_pull_request', { ...repo, pull_number: 42, sha: SEED.prHeadSha }], ['github_delete_branch', { ...repo, branch: 'nb' }],
      ['github_merge_pull_request', { ...repo, pull_number: 42, sha: SEED.prHeadSha }], // already merged: refused
    ];
    for (const [name, args] of calls) await h.run(name, args).catch(() => {});
    expect(h.seen.length).toBeGreaterThan(calls.length);
    const everything = JSON.stringify(h.seen) + JSON.stringify(h.sandbox.received) + h.seen.map(String).join('');
    expect(everything).not.toContain(TOKEN);
    expect(everything).not.toContain(TOKEN.slice(4, 20));
    expect(h.sandbox.received.every((r) => r.headers.authorization === 'REDACTED')).toBe(true);
  });
});

describe('GitHub connector: bad input and configuration', () => {
  it('rejects malformed arguments with messages that say what is expected', () => {
    const merge = h.tool('github_merge_pull_request').input;
    const short = merge.safeParse({ ...repo, pull_number: 42, sha: '1a2b3c4' });
    expect(short.success).toBe(false);
    expect(short.error?.issues[0].message).toBe('must be a full 40-character commit SHA in lowercase hex');
    expect(merge.safeParse({ ...repo, pull_number: 42, sha: SEED.prHeadSha, extra: 1 }).success).toBe(false);
    const owner = h.tool('github_get_repository').input.safeParse({ owner: 'ac me', repo: 'web' });
    expect(owner.error?.issues[0].message).toContain('owner must be a GitHub user or organisation name');
    const branch = h.tool('github_delete_branch').input.safeParse({ ...repo, branch: 'a..b' });
    expect(branch.error?.issues[0].message).toContain('must be a valid git branch name');
    for (const ok of ['fix/login', 'release-1.2', 'feature/x_y']) expect(h.tool('github_delete_branch').input.safeParse({ ...repo, branch: ok }).success).toBe(true);
    for (const bad of ['/x', 'x/', 'x.lock', 'a b', 'x~1', 'a//b']) expect(h.tool('github_delete_branch').input.safeParse({ ...repo, branch: bad }).success, bad).toBe(false);
  });

  it('refuses to start without a token outside the sandbox, and in the sandbox without a URL', () => {
    expect(() => createGithubConnector({ sandbox: false })).toThrow(KernelError);
    expect(() => createGithubConnector({ sandbox: false, token: ' ' })).toThrow(/has no token\. Set GITHUB_TOKEN/);
    expect(() => createGithubConnector({ sandbox: true })).toThrow(/sandbox mode but has no baseUrl/);
    expect(createGithubConnector({ sandbox: false, token: 'x' }).sandbox).toBe(false);
  });
});
