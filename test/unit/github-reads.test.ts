import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { SEED } from '../../tools/github/sandbox/index.ts';
import { harness, kernelError, type Harness } from './github-support.ts';

let h: Harness;
beforeEach(async () => {
  h = await harness();
});
afterEach(() => h.close());

describe('GitHub connector: tool list', () => {
  it('declares 15 tools with the connector prefix, the planned impacts, and JSON-Schema-able inputs', () => {
    const impacts = Object.fromEntries(h.connector.tools.map((t) => [t.name, `${t.impact}/${t.consequence}`]));
    expect(impacts).toEqual({
      github_get_repository: 'read/reads', github_list_pull_requests: 'read/reads', github_get_pull_request: 'read/reads',
      github_list_issues: 'read/reads', github_get_file_contents: 'read/reads', github_list_workflow_runs: 'read/reads',
      github_create_issue: 'write/writes', github_create_issue_comment: 'write/writes', github_create_branch: 'write/changes-code',
      github_delete_branch: 'high/deletes', github_create_pull_request: 'write/changes-code', github_merge_pull_request: 'high/changes-code',
      github_add_collaborator: 'high/grants-access', github_create_release: 'write/writes', github_dispatch_workflow: 'high/deploys',
    });
    expect(h.connector.sandbox).toBe(true);
    for (const t of h.connector.tools) {
      expect(t.name).toMatch(/^github_[a-z0-9_]{1,57}$/);
      const schema = z.toJSONSchema(t.input) as { type: string; additionalProperties: boolean };
      expect(schema.type).toBe('object');
      expect(schema.additionalProperties).toBe(false);
    }
  });
});

describe('GitHub connector: reads', () => {
  it('reads a repository, with a plain read intent', async () => {
    const { intent, result } = await h.run('github_get_repository', { owner: 'acme', repo: 'web' });
    expect(intent).toMatchObject({ summary: 'Read repository acme/web', consequence: 'reads', reversible: true, pins: {} });
    expect(result.data).toMatchObject({ full_name: 'acme/web', default_branch: 'main', private: true });
    expect(result.text).toBe('acme/web (private), default branch main');
  });

  it('reads a pull request with its check runs and reviews', async () => {
    const { intent, result } = await h.run('github_get_pull_request', { owner: 'acme', repo: 'web', pull_number: 42 });
    expect(intent.summary).toBe('Read pull request #42 of acme/web');
    expect(result.text).toBe("PR #42 'Fix login' (open) from fix/login into main at 1a2b3c4: checks passing, 1 approving review");
    expect(result.data).toMatchObject({ head_sha: SEED.prHeadSha, checks: { state: 'passing' }, reviews: { approving: 1, changes_requested: 0 } });
    expect(h.sandbox.received.map((r) => r.path)).toContain(`/repos/acme/web/commits/${SEED.prHeadSha}/check-runs`);
  });

  it('pages through pull requests with an opaque cursor that follows the Link header', async () => {
    const first = await h.run('github_list_pull_requests', { owner: 'acme', repo: 'web', per_page: 2 });
    const numbers = (r: typeof first) => (r.result.data.pull_requests as { number: number }[]).map((p) => p.number);
    expect(numbers(first)).toEqual([42, 41]);
    const cursor = first.result.data.next_cursor;
    expect(typeof cursor).toBe('string');
    const second = await h.run('github_list_pull_requests', { owner: 'acme', repo: 'web', per_page: 2, cursor });
    expect(numbers(second)).toEqual([40, 39]);
    expect(second.result.data.next_cursor).toBeNull();
    expect(h.sandbox.received.at(-1)?.query).toMatchObject({ page: '2', per_page: '2', state: 'open' });
    const all = await h.run('github_list_pull_requests', { owner: 'acme', repo: 'web', state: 'all', per_page: 100 });
    expect(numbers(all)).toEqual([42, 41, 40, 39, 38, 37]);
  });

  it('pages through issues (pull requests marked) and refuses a cursor from another list', async () => {
    const first = await h.run('github_list_issues', { owner: 'acme', repo: 'web', per_page: 3 });
    expect((first.result.data.issues as { number: number; is_pull_request: boolean }[]).map((i) => [i.number, i.is_pull_request]))
      .toEqual([[42, true], [41, true], [40, true]]);
    let cursor = first.result.data.next_cursor;
    const seen: number[] = [];
    while (typeof cursor === 'string') {
      const page = await h.run('github_list_issues', { owner: 'acme', repo: 'web', per_page: 3, cursor });
      seen.push(...(page.result.data.issues as { number: number }[]).map((i) => i.number));
      cursor = page.result.data.next_cursor;
    }
    expect(seen).toEqual([39, 5, 4, 3, 1]);
    const wrong = await kernelError(h.run('github_list_pull_requests', { owner: 'acme', repo: 'web', cursor: first.result.data.next_cursor }));
    expect(wrong.code).toBe('invalid_arguments');
    expect(wrong.message).toContain('belongs to github_list_issues');
    const garbage = await kernelError(h.run('github_list_issues', { owner: 'acme', repo: 'web', cursor: 'not-a-cursor' }));
    expect(garbage.message).toContain('pass next_cursor from the previous result unchanged');
  });

  it('reads a file as text and lists a directory', async () => {
    const file = await h.run('github_get_file_contents', { owner: 'acme', repo: 'web', path: 'README.md', ref: 'main' });
    // The path and ref are the agent's words: its box, not the summary.
    expect(file.intent.summary).toBe('Read a file or directory of acme/web');
    expect(file.intent.agentText).toEqual([{ label: 'Path', text: 'README.md' }, { label: 'Branch, tag or commit', text: 'main' }]);
    expect(file.result.data).toMatchObject({ type: 'file', encoding: 'utf-8', content: '# Acme web\n\nThe Acme web app. Run `npm start`.\n', truncated: false });
    const dir = await h.run('github_get_file_contents', { owner: 'acme', repo: 'web', path: '.github/workflows' });
    expect(dir.result.data.entries).toEqual([
      { type: 'file', name: 'deploy.yml', path: '.github/workflows/deploy.yml', size: 0 },
      { type: 'file', name: 'ci.yml', path: '.github/workflows/ci.yml', size: 0 },
    ]);
    const missing = await kernelError(h.run('github_get_file_contents', { owner: 'acme', repo: 'web', path: 'nope.txt' }));
    expect(missing.message).toMatch(/^GitHub found nothing while reading nope.txt of acme\/web \(404 "Not Found"\)/);
  });

  it('lists workflow runs newest first, paginated', async () => {
    const first = await h.run('github_list_workflow_runs', { owner: 'acme', repo: 'web', per_page: 2 });
    expect(first.result.data.total_count).toBe(3);
    expect((first.result.data.workflow_runs as { id: number }[]).map((r) => r.id)).toEqual([6003, 6002]);
    const second = await h.run('github_list_workflow_runs', { owner: 'acme', repo: 'web', per_page: 2, cursor: first.result.data.next_cursor });
    expect((second.result.data.workflow_runs as { id: number }[]).map((r) => r.id)).toEqual([6001]);
  });
});
