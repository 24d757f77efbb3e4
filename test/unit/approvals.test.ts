import { describe, expect, it } from 'vitest';
import { isEligible, quorumText, tally, type RequestRecord } from '../../kernel/index.ts';
import { effectiveRoles, mayView } from '../../kernel/approvals.ts';

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
    expect(tally(one, [], now, now)).toBe('expired'); // at the deadline itself, not a millisecond later
  });

  it("resolves the owner role to the agent's owner, and other roles from config or the invite", () => {
    const roles = { finance: ['ap@example.com', 'cfo@example.com'] };
    expect(isEligible({ role: 'owner', count: 1 }, { email: 'owner@example.com', roles: [] }, principal, roles)).toBe(true);
    expect(isEligible({ role: 'owner', count: 1 }, { email: 'cfo@example.com', roles: ['finance'] }, principal, roles)).toBe(false);
    expect(isEligible({ role: 'finance', count: 1 }, { email: 'CFO@example.com', roles: [] }, principal, roles)).toBe(true);
    expect(isEligible({ role: 'finance', count: 1 }, { email: 'x@example.com', roles: ['finance'] }, principal, roles)).toBe(true);
    expect(isEligible({ role: 'finance', count: 1 }, { email: 'x@example.com', roles: ['maintainers'] }, principal, roles)).toBe(false);
  });

  it('states the quorum in words', () => {
    expect(quorumText({ role: 'maintainers', count: 2 }, 1)).toBe('1 of 2 approvals (role maintainers)');
    expect(quorumText({ role: 'owner', count: 1 }, 0)).toBe("0 of 1 approvals (the agent's owner)");
  });
});

describe('who holds a role, and who may see a request', () => {
  const roles = { finance: ['CFO@example.com'], auditor: ['audit@example.com'] };

  it('holds roles from config (any letter case) and from the directory, each once', () => {
    expect(effectiveRoles({ email: 'cfo@EXAMPLE.com', roles: ['finance', 'maintainers'] }, roles)).toEqual(['finance', 'maintainers']);
    expect(effectiveRoles({ email: 'audit@example.com', roles: [] }, roles)).toEqual(['auditor']);
    expect(effectiveRoles({ email: 'x@example.com', roles: [] }, roles)).toEqual([]);
    expect(effectiveRoles({ email: 'ap@example.com', roles: [] }, { finance: ['cfo@example.com', 'AP@example.com'] })).toEqual(['finance']);
  });

  it("shows a request to the agent's owner, those who may or did decide it and auditors; to nobody else", () => {
    const record = (approvers?: { role: string; count: number }, approvals: string[] = []) =>
      ({ body: { principal }, verdict: { approvers }, approvals: approvals.map((approverId) => ({ approverId })) }) as unknown as RequestRecord;
    const person = (id: string, email: string, held: string[] = []) => ({ id, email, roles: held });
    const finance = record({ role: 'finance', count: 1 });
    expect(mayView(finance, person('o', 'OWNER@example.com'), roles)).toBe(true);
    expect(mayView(finance, person('c', 'cfo@example.com'), roles)).toBe(true);
    expect(mayView(finance, person('f', 'f@example.com', ['finance']), roles)).toBe(true);
    expect(mayView(finance, person('a', 'audit@example.com'), roles)).toBe(true);
    expect(mayView(finance, person('a2', 'a2@example.com', ['auditor']), roles)).toBe(true);
    expect(mayView(finance, person('x', 'x@example.com', ['maintainers']), roles)).toBe(false);
    expect(mayView(record({ role: 'finance', count: 1 }, ['someone-else']), person('x', 'x@example.com'), roles)).toBe(false);
    // Someone who decided it keeps seeing it after their role is taken away.
    expect(mayView(record({ role: 'finance', count: 1 }, ['x']), person('x', 'x@example.com'), roles)).toBe(true);
    // A request that needed no approval: only the owner and auditors.
    expect(mayView(record(undefined), person('c', 'cfo@example.com', ['finance']), roles)).toBe(false);
    expect(mayView(record(undefined), person('o', 'owner@example.com'), roles)).toBe(true);
  });
});
