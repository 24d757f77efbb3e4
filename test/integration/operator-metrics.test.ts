import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CAPABILITIES, createRouter, type JsonObject } from '../../kernel/index.ts';
import { generateOAuthSigningKey } from '../../gateway/keys.ts';
import { createEdgeApp } from '../../gateway/edge-app.ts';
import { DEFAULT_LIMITS } from '../../gateway/edge.ts';
import { startStack, type Stack } from '../support/harness.ts';
import { createTestConnector } from '../support/test-connector.ts';

/**
 * /metrics gets the request and approval series from the core as a kernel message (`operator`, op `metrics`), the
 * same way in one process as across processes, where the edge holds no registry of them (operator.test.ts and
 * isolation.test.ts see it on real server processes).
 */

const CONFIG = `
policy:
  default: deny
  rules:
    - { id: notes, tools: [test_write_note], decision: approve }
`;

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ config: CONFIG, connectors: [createTestConnector()] });
});
afterAll(async () => {
  await stack?.close();
});

describe('request metrics on /metrics', () => {
  it('come from the core through the router, beside the HTTP series', async () => {
    const { agentId } = await stack.addAgent('metrics-bot', 'owner@example.com');
    await stack.submit(agentId, 'test_write_note', { key: 'k', text: 'held' });
    const text = await (await fetch(`${stack.url}/metrics`)).text();
    expect(text).toMatch(/^countersign_pending_approvals 1$/m);
    expect(text).toContain('# TYPE countersign_request_duration_seconds histogram');
    expect(text).toContain('countersign_http_requests_total');
    expect(text).not.toContain('request metrics unavailable');
  });

  it('are asked for only by a port that holds operator:metrics (the gateway’s), others are refused', async () => {
    const web = stack.services.router.register('web-probe', async () => null, CAPABILITIES.web);
    await expect(web.send('operator', { op: 'metrics' })).rejects.toMatchObject({ code: 'capability_refused' });
  });

  it('leave the HTTP series served, with a comment saying what is missing, when the core cannot answer', async () => {
    const edge = createEdgeApp({
      settings: { publicUrl: 'http://localhost:8787', host: '127.0.0.1', listenPort: 8787, sandbox: true, holdSeconds: 0, auth: 'builtin', oauth: undefined, rateLimitPerMinute: undefined, limits: DEFAULT_LIMITS, allowedHosts: undefined, vapidPublicKey: null, oauthSigningKey: (await generateOAuthSigningKey()) as JsonObject },
      router: createRouter(async () => {}),
      store: {} as never,
      health: async () => ({}),
    });
    try {
      const response = await edge.app.request('http://localhost:8787/metrics');
      expect(response.status).toBe(200);
      const text = await response.text();
      expect(text).toContain('countersign_http_requests_total');
      expect(text).toMatch(/^# countersign: request metrics unavailable: gateway may not send metrics to operator$/m);
      expect(text).not.toContain('countersign_pending_approvals');
    } finally {
      await edge.close();
    }
  });
});
