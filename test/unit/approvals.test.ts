import { describe, expect, it } from 'vitest';
import { isEligible, quorumText, tally } from '../../kernel/index.ts';

const principal = { agentId: 'agt_1', agentName: 'bot', owner: 'Owner@Example.com' };
const later = new Date(Date.now() + 60_000);
const now = new Date();

describe('approval state machine', () => {
  it('needs count distinct approvers; the same approver twice counts once', () => {
    const two = { role: 'finance', count: 2 };
    expect(tally(two, [{ approverId: 'a', decision: 'approve' }], later, now)).toBe('pending');
    expect(tally(two, [{ approverId: 'a', decision: 'approve' }, { approverId: 'a', decision: 'approve' }], later, now)).toBe('pending');
    expect(tally(two, [{ approverId: 'a', decision: 'approve' }, { approverId: 'b', decision: 'approve' }], later, now)).toBe('approved');
  });

  it('lets any rejection win, even after a quorum-completing approval list', () => {
    const one = { role: 'owner', count: 1 };
    expect(tally(one, [{ approverId: 'a', decision: 'approve' }, { approverId: 'b', decision: 'reject' }], later, now)).toBe('rejected');
  });

  it('expires an undecided request at its deadline: a timeout is a rejection', () => {
    const one = { role: 'owner', count: 1 };
    expect(tally(one, [], new Date(now.getTime() - 1), now)).toBe('expired');
    expect(tally(one, [], later, now)).toBe('pending');
  });

  it("resolves the owner role to the agent's owner, and other roles from config or the invite", () => {
    const roles = { finance: ['cfo@example.com'] };
    expect(isEligible({ role: 'owner', count: 1 }, { email: 'owner@example.com', roles: [] }, principal, roles)).toBe(true);
    expect(isEligible({ role: 'owner', count: 1 }, { email: 'cfo@example.com', roles: ['finance'] }, principal, roles)).toBe(false);
    expect(isEligible({ role: 'finance', count: 1 }, { email: 'CFO@example.com', roles: [] }, principal, roles)).toBe(true);
    expect(isEligible({ role: 'finance', count: 1 }, { email: 'x@example.com', roles: ['finance'] }, principal, roles)).toBe(true);
    expect(isEligible({ role: 'finance', count: 1 }, { email: 'x@example.com', roles: ['maintainers'] }, principal, roles)).toBe(false);
  });

  it('states the quorum in words', () => {
    expect(quorumText({ role: 'maintainers', count: 2 }, 1)).toBe('1 of 2 approvals (role maintainers)');
  });
});
