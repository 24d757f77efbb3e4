import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { runState } from '../../gateway/cli.ts';
import { startStack, type Stack, type TestApprover } from '../support/harness.ts';
import { createTestConnector } from '../support/test-connector.ts';
import { connectClient } from '../support/mcp-client.ts';
import { eq } from 'drizzle-orm';
import { schema } from '../../kernel/index.ts';

/**
 * `approver grant|revoke|invite|list`: one person can be given the roles a rule asks for, so the README's story can be
 * finished alone; the role then counts for approvals, and revoking it stops that. Every change is audited.
 */

const CONFIG = `
holdSeconds: 0
roles:
  maintainers: [listed@example.com]
  finance: []
policy:
  default: approve
  rules:
    - id: maintainers-write
      tools: [test_write_note]
      decision: approve
      approvers: { role: maintainers, count: 1 }
`;

let stack: Stack;
let client: Client;
let you: TestApprover;
const cli = (...argv: string[]) => runState(stack.services, argv, 'npx countersign');

beforeAll(async () => {
  stack = await startStack({ config: CONFIG, connectors: [createTestConnector()] });
  const { token } = await stack.addAgent('roles-agent', 'owner@example.com');
  client = await connectClient(stack.url, token);
  you = await stack.enrollApprover('you@example.com');
});
afterAll(async () => {
  await client?.close();
  await stack?.close();
});

async function pendingWrite(key: string): Promise<string> {
  const result = (await client.callTool({ name: 'test_write_note', arguments: { key, text: 'x' } })) as CallToolResult;
  return (result.structuredContent as { approval_id: string }).approval_id;
}

describe('approver roles from the CLI', () => {
  it('grants an enrolled person a role that then counts for approvals, audited', async () => {
    const before = await pendingWrite('before-grant');
    await expect(stack.decide(you, before, 'approve')).rejects.toThrow(/not an approver for this request/);

    const out = await cli('approver', 'grant', 'You@Example.com', 'maintainers', 'finance');
    expect(out).toEqual({ exitCode: 0, stdout: 'you@example.com now has roles maintainers, finance (roles: finance, maintainers).\n' });
    const decided = await stack.decide(you, await pendingWrite('after-grant'), 'approve');
    expect(decided.approvals.map((a) => a.approverEmail)).toEqual(['you@example.com']);
  });

  it('invite --role for someone already enrolled grants the role instead of printing a useless link', async () => {
    const out = await cli('approver', 'invite', 'you@example.com', '--role', 'finance', '--json');
    expect(JSON.parse(out.stdout)).toMatchObject({ email: 'you@example.com', roles: ['finance', 'maintainers'], enrolled: true });
    const fresh = await cli('approver', 'invite', 'new@example.com', '--role', 'finance', '--json');
    expect(JSON.parse(fresh.stdout)).toMatchObject({ email: 'new@example.com', role: 'finance', url: expect.stringContaining('/enroll/') });
  });

  it('revokes a granted role, after which the person can no longer approve', async () => {
    const out = await cli('approver', 'revoke', 'you@example.com', 'maintainers');
    expect(out.exitCode).toBe(0);
    expect(out.stdout).toContain('you@example.com no longer has role maintainers (roles: finance)');
    await expect(stack.decide(you, await pendingWrite('after-revoke'), 'approve')).rejects.toThrow(/not an approver for this request/);
  });

  it('refuses unknown roles with the closest name, owner, and revoking a role config lists', async () => {
    const typo = await cli('approver', 'grant', 'you@example.com', 'maintainer');
    expect(typo.exitCode).toBe(2);
    expect(typo.stdout).toMatch(/role "maintainer" is not defined under roles: in .*countersign\.yaml; did you mean "maintainers"\?/);
    expect((await cli('approver', 'grant', 'you@example.com', 'owner')).stdout).toContain('built in');
    const listed = await cli('approver', 'revoke', 'listed@example.com', 'maintainers');
    expect(listed.exitCode).toBe(2);
    expect(listed.stdout).toContain('listed@example.com is listed under roles.maintainers');
    expect((await cli('approver', 'grant', 'you@example.com')).stdout).toBe('usage: npx countersign approver grant EMAIL ROLE... [--json]\n');
    expect((await cli('approver', 'grant', 'not-an-email', 'finance')).exitCode).toBe(2);
  });

  it('lists everyone with their roles from config and from grants', async () => {
    const { approvers } = JSON.parse((await cli('approver', 'list', '--json')).stdout) as { approvers: { email: string; roles: string[]; enrolled: boolean }[] };
    expect(approvers.find((a) => a.email === 'you@example.com')).toMatchObject({ roles: ['finance'], enrolled: true });
    expect(approvers.find((a) => a.email === 'listed@example.com')).toMatchObject({ roles: ['maintainers'], enrolled: false });
  });

  it('audits each change with the roles before and after', async () => {
    // The audit sequencer integrates entries within a second: read until both changes are in the chain.
    let changes: unknown[] = [];
    for (let i = 0; i < 50 && changes.length < 2; i += 1) {
      const rows = await stack.services.database.db.select().from(schema.auditEntries).where(eq(schema.auditEntries.kind, 'approver.roles.changed'));
      changes = rows.map((r) => r.data);
      if (changes.length < 2) await new Promise((r) => setTimeout(r, 100));
    }
    expect(changes).toEqual(
      expect.arrayContaining([
        { email: 'you@example.com', before: [], after: ['finance', 'maintainers'] },
        { email: 'you@example.com', before: ['finance', 'maintainers'], after: ['finance'] },
      ]),
    );
  });
});
