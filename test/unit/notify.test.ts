import { describe, expect, it } from 'vitest';
import { createRouter } from '../../kernel/index.ts';
import { registerNotifier, webhookBody } from '../../approval-web/notify/index.ts';
import { pushPayload } from '../../approval-web/notify/message.ts';
import type { Db } from '../../kernel/index.ts';

const URL_ = 'https://cs.example.com/requests/req_1';

describe('notification bodies', () => {
  it('a Slack-compatible webhook body carries the summary and the link only', () => {
    const body = webhookBody({ requestId: 'req_1', summary: 'Refund $120.00 USD to Jane Doe on charge ch_1', url: URL_ });
    expect(body.text).toBe(`Refund $120.00 USD to Jane Doe on charge ch_1 — approve at ${URL_}`);
    expect(body.blocks).toEqual([
      { type: 'section', text: { type: 'mrkdwn', text: `*Approval needed*\nRefund $120.00 USD to Jane Doe on charge ch_1\n<${URL_}|Open in Countersign to approve or reject>` } },
    ]);
    expect(Object.keys(body).sort()).toEqual(['blocks', 'text']);
  });

  it('escapes Slack link syntax and hidden characters in the summary, and cuts long ones with a marker', () => {
    const body = webhookBody({ requestId: 'r', summary: 'Pay <https://evil.example|your boss> & <!channel> \u202Egnp', url: URL_ });
    expect(body.text).toContain('&lt;https://evil.example|your boss&gt; &amp; &lt;!channel&gt; ⟨U+202E⟩gnp');
    const long = webhookBody({ requestId: 'r', summary: 'x'.repeat(1000), url: URL_ });
    expect(long.text).toContain('… [700 more characters]');
    expect(JSON.parse(pushPayload({ requestId: 'r', summary: 'Merge PR #42', url: URL_ }))).toEqual({ title: 'Approval needed', body: 'Merge PR #42', url: URL_ });
  });
});

describe('notifier endpoint', () => {
  it('posts every webhook, logs failures without the webhook path, and never throws to the kernel', async () => {
    const router = createRouter(async () => {});
    const posted: { url: string; body: unknown }[] = [];
    const logs: string[] = [];
    const fakeFetch = (async (url: string | URL | Request, init?: RequestInit) => {
      posted.push({ url: String(url), body: JSON.parse(String(init?.body)) });
      if (String(url).includes('broken')) return new Response('no', { status: 500 });
      if (String(url).includes('down')) throw new TypeError('fetch failed');
      return new Response('ok');
    }) as typeof fetch;
    const notifier = registerNotifier(router, {
      db: {} as Db,
      publicUrl: 'https://cs.example.com',
      webhooks: ['https://hooks.slack.com/services/T0/B0/SECRET', 'https://broken.example/hook/SECRET2', 'https://down.example/SECRET3'],
      vapid: null,
      fetch: fakeFetch,
      resolve: async () => [{ address: '93.184.215.14', family: 4 }],
      log: (line) => logs.push(line),
    });
    const kernel = router.register('kernel', async () => null, ['notifier:*']);
    await expect(kernel.send('notifier', { op: 'approval.requested', requestId: 'req_1', summary: 'Merge PR #42', url: URL_ })).resolves.toBe(true);
    await notifier.settled();
    expect(posted.map((p) => p.url)).toHaveLength(3);
    expect(posted[0].body).toMatchObject({ text: `Merge PR #42 — approve at ${URL_}` });
    expect(logs).toHaveLength(2);
    expect(logs.join('\n')).toContain('broken.example');
    expect(logs.join('\n')).not.toMatch(/SECRET/);
    await expect(kernel.send('notifier', { op: 'something.else' })).rejects.toThrow(/approval.requested/);
  });
});
