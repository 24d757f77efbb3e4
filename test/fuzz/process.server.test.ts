import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServerProcess, type ServerProcess } from '../support/server-process.ts';
import { LONG, runs, timeout } from './settings.ts';

/**
 * The class of bug where the server behaves differently depending on where and how it was started (started from
 * another directory, tsx once compiled the pages' JSX for React and every page answered 500): a real
 * `countersign start` from a temporary directory, with a production NODE_ENV, a far-off time zone and a Turkish
 * locale (whose case rules break naive lowercasing), answers every page and hostile requests below 500, and its memory
 * stays bounded. Long run only (`npm run fuzz`): starting a process costs more than the fast part's budget.
 */

let server: ServerProcess;

describe.runIf(LONG)('a server process started elsewhere', () => {
  beforeAll(async () => {
    server = await startServerProcess({ env: { NODE_ENV: 'production', TZ: 'Pacific/Kiritimati', LANG: 'tr_TR.UTF-8', LC_ALL: 'tr_TR.UTF-8' } });
  }, 180_000);
  afterAll(async () => {
    await server?.close();
  });

  it('answers every page and odd requests below 500, and its memory stays bounded', async () => {
    const pages = ['/', '/signin', '/healthz', '/metrics', '/audit', '/audit/people', '/devices', '/sw.js', '/enroll/nope', '/requests/req_0', '/.well-known/oauth-protected-resource', '/nope', '/%ZZ', '/assets/nope.js'];
    for (const path of pages) {
      const res = await fetch(`${server.url}${path}`, { redirect: 'manual' });
      const text = await res.text();
      expect(res.status, `${path}: ${text.slice(0, 200)}`).toBeLessThan(500);
    }
    const before = server.rssBytes();
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...pages, '/mcp', '/signin/verify', '/api/v1/devices/pair'), fc.constantFrom('GET', 'POST', 'PUT', 'DELETE'), fc.string({ unit: 'binary', maxLength: 200 }), async (path, method, body) => {
        const res = await fetch(`${server.url}${path}`, { method, body: method === 'GET' ? undefined : body, headers: { 'content-type': 'application/json', 'x-forwarded-for': '6.6.6.6' }, redirect: 'manual' });
        await res.text();
        expect(res.status, `${method} ${path}`).toBeLessThan(500);
      }),
      runs(1, 0.1),
    );
    expect(server.alive()).toBe(true);
    // Bounded, not exact: the process settles its heap as it warms up; a leak per request would pass this many MB.
    expect(server.rssBytes() - before).toBeLessThan(100 * 1024 * 1024);
  }, timeout(1, 500, 0.1, 180_000));
});
