import { describe, expect, it } from 'vitest';
import { CAPABILITIES, allows } from '../../kernel/index.ts';
import { APPROVAL_WEB_CAPABILITIES } from '../../approval-web/index.ts';
import { NOTIFIER_CAPABILITIES } from '../../approval-web/notify/index.ts';
import { GATEWAY_CAPABILITIES } from '../../gateway/mcp/index.ts';

// Capability lists are data (kernel/capabilities.ts). This file pins the table down exactly as written below, so a
// widened list (a `kernel:*`) is a diff here, reviewed; capability-sources.test.ts checks it against the source.

describe('capability lists', () => {
  it('are exactly these, and no wider', () => {
    expect(CAPABILITIES).toEqual({
      kernel: ['connector.*:tools.list', 'connector.*:describe', 'connector.*:execute', 'connector.*:reconcile', 'notifier:approval.requested'],
      gateway: ['kernel:agent.authenticate', 'kernel:agent.resolve', 'kernel:tools.list', 'kernel:request.submit', 'kernel:request.await', 'kernel:request.cancel', 'kernel:request.list', 'kernel:edge.refused', 'audit:audit.checkpoint', 'operator:metrics', 'connector.*:execution.cancel'],
      web: [
        'kernel:approver.get', 'kernel:approver.upsert',
        'kernel:passkey.add', 'kernel:passkey.lookup', 'kernel:passkey.touch', 'kernel:passkey.remove',
        'kernel:device.add', 'kernel:device.list', 'kernel:device.remove', 'kernel:device.lookup',
        'kernel:approval.inbox', 'kernel:approval.challenge', 'kernel:approval.decide',
        'kernel:request.view', 'kernel:agent.revoke', 'kernel:agent.add', 'kernel:edge.refused',
        'audit:audit.requests', 'audit:audit.timeline', 'audit:audit.status', 'audit:audit.stats', 'audit:audit.people',
        'webdb:tables',
      ],
      notifier: ['kernel:approval.inbox', 'kernel:edge.refused'],
      admin: ['kernel:agent.add', 'kernel:agent.list', 'kernel:agent.revoke', 'kernel:approver.get', 'kernel:approver.roles', 'connector.*:describe'],
      connector: ['kernel:grant.consume', 'gateway:execution.progress'],
      audit: [],
      webdb: [],
      operator: [],
    });
    expect([APPROVAL_WEB_CAPABILITIES, GATEWAY_CAPABILITIES, NOTIFIER_CAPABILITIES]).toEqual([CAPABILITIES.web, CAPABILITIES.gateway, CAPABILITIES.notifier]);
  });

  // Besides the kernel's: the admin's describe (`policy explain` on a running server reads a connector's describe, an
  // upstream read, never an effect), and the gateway's stop of an agent's running execution at whichever connector
  // runs it (the connector stops only an execution of the agent named, and the outcome is still recorded).
  const PATTERNED = ['admin:connector.*:describe', 'gateway:connector.*:execution.cancel'];

  it('name single ops: no wildcard op, and only the kernel addresses endpoints by pattern (connectors are named at run time), but for two ops', () => {
    for (const [service, list] of Object.entries(CAPABILITIES)) {
      for (const capability of list as readonly string[]) {
        const [to, op] = capability.split(':');
        expect(op, `${service}: ${capability}`).toMatch(/^[a-z]+(\.[a-z]+)*$/);
        if (service !== 'kernel' && !PATTERNED.includes(`${service}:${capability}`)) expect(to, `${service}: ${capability}`).toMatch(/^[a-z]+$/);
      }
    }
    expect(allows(CAPABILITIES.admin, 'connector.stripe', 'describe')).toBe(true);
    expect(allows(CAPABILITIES.admin, 'connector.stripe', 'execute')).toBe(false);
    // What the kernel's pattern reaches: a connector's ops, never another service's.
    expect(allows(CAPABILITIES.kernel, 'connector.stripe', 'execute')).toBe(true);
    expect(allows(CAPABILITIES.kernel, 'web', 'execute')).toBe(false);
    expect(allows(CAPABILITIES.kernel, 'kernel', 'grant.consume')).toBe(false);
    expect(allows(CAPABILITIES.gateway, 'connector.mcp', 'execution.cancel')).toBe(true);
    expect(allows(CAPABILITIES.gateway, 'connector.mcp', 'execute')).toBe(false);
  });
});
