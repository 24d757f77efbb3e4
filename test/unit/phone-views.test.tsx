import { describe, expect, it } from 'vitest';
import type { Intent, RequestView } from '../../kernel/index.ts';
import { fingerprint } from '../../approval-web/hygiene.ts';
import { safeNext } from '../../approval-web/sessions.ts';
import { PinFields } from '../../approval-web/views/pins.tsx';
import { FinalState } from '../../approval-web/views/decision.tsx';
import { KeyLine } from '../../approval-web/views/request-card.tsx';

/** The approver's phone (issue 15), view by view: typed pins, the fingerprint, outcomes, cards, sign-in deep links. */

const html = (node: unknown) => String(node);
const SHA = '1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b';
const DIGEST = 'ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12';

function intent(over: Partial<Intent>): Intent {
  return { summary: 's', consequence: 'writes', reversible: true, fields: [], pins: {}, sandbox: false, ...over };
}

function view(over: Partial<RequestView>): RequestView {
  return {
    id: 'req_1',
    digest: DIGEST,
    body: { tool: 't', args: {}, pins: {}, principal: { agentId: 'a', agentName: 'bot', owner: 'o@example.com' }, policyVersion: 'v', requestId: 'req_1', nonce: 'n', expiresAt: '2026-01-01T00:00:00.000Z' },
    intent: intent({}),
    state: 'pending',
    verdict: { decision: 'approve', ruleId: null, reason: 'r', approvers: { role: 'owner', count: 1 } },
    approvals: [],
    result: null,
    error: null,
    createdAt: '2026-01-01T00:00:00.000Z',
    updatedAt: '2026-01-01T00:00:00.000Z',
    approvalUrl: null,
    ...over,
  };
}

describe('fingerprint', () => {
  it('is the first 80 bits of the digest in five groups, the same for the page and the Passport', () => {
    expect(fingerprint(DIGEST)).toBe('AB12 CD34 EF56 AB12 CD34');
    expect(fingerprint('not a digest')).toBe('(not a request digest)');
  });
});

describe('typed pins', () => {
  it('formats amounts from minor units with the currency, and takes the label of the field they name', () => {
    const refund = intent({
      fields: [
        { label: 'Refund amount', kind: 'money', value: 10000, currency: 'USD' },
        { label: 'Charge', kind: 'text', value: 'ch_3SbxJaneCharge0001' },
        { label: 'Charge amount', kind: 'money', value: 12000, currency: 'USD' },
      ],
      pins: { charge: 'ch_3SbxJaneCharge0001', amount: 12000, amount_refunded: 2000, currency: 'USD' },
    });
    const text = html(<PinFields id="pins" intent={refund} />);
    expect(text).toContain('Charge amount');
    expect(text).toContain('120.00 USD');
    expect(text).toContain('Amount refunded');
    expect(text).toContain('20.00 USD');
    expect(text).not.toMatch(/>12000</);
  });

  it('shows commits short with a Copy button for the full SHA, and never names a count after a field', () => {
    const merge = intent({
      fields: [
        { label: 'Pull request', kind: 'url', value: 'https://github.com/acme/web/pull/1' },
        { label: 'Head commit', kind: 'commit', value: SHA },
        { label: 'Pull number', kind: 'number', value: 1 },
      ],
      pins: { head_sha: SHA, approving_reviews: 1, api_host: 'xn--ggle-0nda.com' },
    });
    const text = html(<PinFields id="pins" intent={merge} />);
    expect(text).toContain('Head commit');
    expect(text).toContain(`<code class="short">${SHA.slice(0, 7)}</code>`);
    expect(text).toContain(`data-copy="${SHA}"`);
    expect(text).toContain('Approving reviews');
    expect(text).not.toContain('Pull number');
    expect(text).toContain('shown in punycode');
  });
});

describe('after a decision', () => {
  it('a failure shows the reason the agent got', () => {
    const failed = view({ state: 'failed', error: { code: 'upstream_error', message: 'GitHub answered 409: Head branch was modified.' } });
    const text = html(<FinalState request={failed} />);
    expect(text).toContain('What the agent was told');
    expect(text).toContain('GitHub answered 409: Head branch was modified.');
  });

  it('a success links to what it made upstream, only over https, and names the host', () => {
    const made = (url: string) =>
      html(<FinalState request={view({ state: 'succeeded', result: { data: { html_url: url }, text: 'Created issue #7 in acme/web' } })} />);
    expect(made('https://github.com/acme/web/issues/7')).toContain('href="https://github.com/acme/web/issues/7"');
    expect(made('https://github.com/acme/web/issues/7')).toContain('Open it on github.com');
    expect(made('http://github.com/acme/web/issues/7')).not.toContain('upstream-link');
    expect(made('javascript:alert(1)')).not.toContain('upstream-link');
  });
});

describe('inbox cards', () => {
  it("quote the agent's first words as theirs, cut with a marker when long", () => {
    const long = 'x'.repeat(130);
    const card = html(<KeyLine request={view({ intent: intent({ agentText: [{ label: 'Title', text: long }] }) })} />);
    expect(card).toContain('written by the agent');
    expect(card).toContain('10 more characters: open the request to read all');
  });
});

describe('deep links through sign-in', () => {
  it('keeps paths on this site and nothing else', () => {
    expect(safeNext('/requests/req_abc')).toBe('/requests/req_abc');
    expect(safeNext('/audit?tool=github_merge_pull_request&state=failed')).toBe('/audit?tool=github_merge_pull_request&state=failed');
    for (const bad of ['//evil.example/x', '/\\evil.example', 'https://evil.example/', 'javascript:alert(1)', '/requests/a\nb', '/', '', null, `/${'a'.repeat(600)}`]) {
      expect(safeNext(bad), String(bad)).toBeNull();
    }
  });
});
