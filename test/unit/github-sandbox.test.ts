import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fakeSha, SEED, startGithubSandbox, type GithubSandbox } from '../../tools/github/sandbox/index.ts';

let sb: GithubSandbox;
beforeEach(async () => {
  sb = await startGithubSandbox();
});
afterEach(() => sb.close());

const auth = { authorization: 'Bearer sandbox-secret' };
const call = (path: string, init: RequestInit = {}) =>
  fetch(sb.url + path, { ...init, headers: { ...auth, 'content-type': 'application/json', ...init.headers } });

describe('GitHub sandbox wire format', () => {
  it('requires a token, labels every response SANDBOX, and sends rate-limit headers', async () => {
    const anon = await fetch(`${sb.url}/repos/acme/web`);
    expect(anon.status).toBe(401);
    expect(await anon.json()).toMatchObject({ message: 'Requires authentication', documentation_url: expect.any(String) });
    const res = await call('/repos/acme/web');
    expect(res.status).toBe(200);
    expect(res.headers.get('x-countersign-sandbox')).toBe('true');
    expect(res.headers.get('x-ratelimit-limit')).toBe('5000');
    expect(Number(res.headers.get('x-ratelimit-remaining'))).toBeLessThan(5000);
    expect(res.headers.get('x-ratelimit-resource')).toBe('core');
    expect((await call('/repos/acme/web', { headers: { authorization: 'token abc' } })).status).toBe(200);
  });

  it('paginates with Link headers built from the request URL', async () => {
    const res = await call('/repos/acme/web/issues?state=all&per_page=4&page=2');
    const link = res.headers.get('link') ?? '';
    expect(link).toContain(`<${sb.url}/repos/acme/web/issues?state=all&per_page=4&page=3>; rel="next"`);
    expect(link).toContain('rel="prev"');
    expect(link).toContain('rel="last"');
    expect(((await res.json()) as unknown[]).length).toBe(4);
  });

  it('answers GitHub error bodies: 404, 422 Validation Failed, 409 on a moved head', async () => {
    expect(await (await call('/repos/acme/nope')).json()).toMatchObject({ message: 'Not Found' });
    const invalid = await call('/repos/acme/web/issues', { method: 'POST', body: JSON.stringify({ body: 'no title' }) });
    expect(invalid.status).toBe(422);
    expect(await invalid.json()).toMatchObject({ message: 'Validation Failed', errors: [{ resource: 'Issue', field: 'title', code: 'missing_field' }] });
    sb.state.movePrHead(42, fakeSha('pushed'));
    const merge = await call('/repos/acme/web/pulls/42/merge', { method: 'PUT', body: JSON.stringify({ sha: SEED.prHeadSha }) });
    expect(merge.status).toBe(409);
    expect(await merge.json()).toMatchObject({ message: 'Head branch was modified. Review and try the merge again.' });
    const bad = await call('/repos/acme/web/issues', { method: 'POST', body: '{not json' });
    expect(bad.status).toBe(400);
  });

  it('injects faults only into matching requests, once', async () => {
    sb.failNext({ status: 503, match: { method: 'POST' } });
    expect((await call('/repos/acme/web')).status).toBe(200);
    expect((await call('/repos/acme/web/issues', { method: 'POST', body: JSON.stringify({ title: 't' }) })).status).toBe(503);
    expect((await call('/repos/acme/web/issues', { method: 'POST', body: JSON.stringify({ title: 't' }) })).status).toBe(201);
  });

  it('records what it received, with the credential redacted', async () => {
    await call('/repos/acme/web/issues?x=1', { method: 'POST', body: JSON.stringify({ title: 'Hello' }) });
    expect(sb.received.at(-1)).toMatchObject({ method: 'POST', path: '/repos/acme/web/issues', query: { x: '1' }, body: { title: 'Hello' } });
    expect(sb.received.at(-1)?.headers.authorization).toBe('REDACTED');
    expect(JSON.stringify(sb.received)).not.toContain('sandbox-secret');
  });

  it('is seeded with acme/web: PR #42 with passing checks and an approval, deploy.yml, mallory', async () => {
    const pr = (await (await call('/repos/acme/web/pulls/42')).json()) as { head: { sha: string }; mergeable_state: string; title: string };
    expect(pr).toMatchObject({ title: 'Fix login', head: { sha: SEED.prHeadSha }, mergeable_state: 'clean' });
    const checks = (await (await call(`/repos/acme/web/commits/${SEED.prHeadSha}/check-runs`)).json()) as { total_count: number };
    expect(checks.total_count).toBe(2);
    expect((await call('/repos/acme/web/actions/workflows/deploy.yml')).status).toBe(200);
    expect((await call('/users/mallory')).status).toBe(200);
  });
});
