import { mkdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { z } from 'zod';
import type { IntentField, RequestView } from '../../kernel/index.ts';
import { defineTool, type Connector } from '../../tools/spec.ts';
import { join } from 'node:path';
import { launchBrowser, SCREENSHOT_DIR } from '../support/browser.ts';
import { startStack, type Stack } from '../support/harness.ts';
import { hostileCorpus, unescapeShown, type HostileString } from '../support/hostile-text.ts';
import { enrollInBrowser, type BrowserApprover } from './approve-support.ts';
import { pairEmulator, type Emulator } from './hygiene-support.ts';

/**
 * The hostile-text corpus (10,000 strings: every hidden-character class, each look-alike family, HTML, markdown and
 * ANSI) rendered where approvers read it: the approval page in Chromium at phone size, and the Passport emulator.
 * Each string is an intent field (quoted upstream text, one-line text, a person), so every rendering path is
 * covered. 100% must be escaped and flagged, nothing raw, nothing cut without a marker.
 */

const BATCH = 1000;
const corpus = hostileCorpus(10_000);
const batches = Math.ceil(corpus.length / BATCH);

/** Field i of a batch: upstream free text, a one-line text value or a person, in turn. */
function fieldOf(item: HostileString, i: number): IntentField {
  const label = `Item ${i}`;
  if (i % 3 === 0) return { label, kind: 'text', value: item.text, writtenBy: { on: 'GitHub', by: '@octocat' } };
  return { label, kind: i % 3 === 1 ? 'text' : 'person', value: item.text };
}

const corpusConnector: Connector = {
  name: 'corpus',
  sandbox: true,
  tools: [
    defineTool({
      name: 'corpus_show',
      title: 'Show a corpus batch',
      description: 'Describes one batch of the hostile-text corpus as intent fields.',
      input: z.object({ batch: z.number().int().min(0).max(batches - 1) }),
      impact: 'write',
      consequence: 'writes',
      describe: async ({ batch }) => {
        const items = corpus.slice(batch * BATCH, (batch + 1) * BATCH);
        return {
          summary: `Show batch ${batch} ${items[0]!.text}`,
          consequence: 'writes',
          reversible: true,
          pins: {},
          fields: items.map((item, i) => fieldOf(item, batch * BATCH + i)),
          agentText: [{ label: 'Agent note', text: items[1]!.text }],
        };
      },
      execute: async () => ({ data: {}, text: 'shown' }),
    }),
  ],
};

let stack: Stack;
let browser: Browser;
let owner: BrowserApprover;
let emulator: Emulator;
let requests: RequestView[] = [];

beforeAll(async () => {
  stack = await startStack({ config: 'holdSeconds: 1\npolicy:\n  default: approve\n  rules: []\n', connectors: [corpusConnector] });
  const { agentId } = await stack.addAgent('corpus-agent', 'owner@example.com');
  browser = await launchBrowser();
  owner = await enrollInBrowser(browser, stack, 'owner@example.com');
  emulator = await pairEmulator(stack, 'owner@example.com');
  requests = [];
  for (let batch = 0; batch < batches; batch++) requests.push(await stack.submit(agentId, 'corpus_show', { batch }));
});

afterAll(async () => {
  emulator?.close();
  await browser?.close();
  await stack?.close();
});

/** Characters that must never reach a screen raw (tab and line feed are allowed in free text only). */
const HIDDEN = /[\p{Default_Ignorable_Code_Point}\p{Cf}\p{Zl}\p{Zp}\p{Variation_Selector}\p{Bidi_Control}\p{Cc}\p{Co}\p{Cn}]/u;

describe('the hostile-text corpus on the approval page (Chromium, 390x844)', () => {
  it('shows all 10,000 strings escaped, flagged and whole, and interprets none of them', { timeout: 600_000 }, async () => {
    const page = owner.page;
    const failures: string[] = [];
    let checked = 0;
    for (const [batch, request] of requests.entries()) {
      await page.goto(`${stack.url}/requests/${request.id}`);
      // Nothing was interpreted: the page's own module is the only script, no image, no injected markup ran.
      expect(await page.evaluate(() => (window as { __pwned?: number }).__pwned)).toBeUndefined();
      expect(await page.locator('script').count()).toBe(1);
      expect(await page.locator('img').count()).toBe(0);
      const shownFields = await page.locator('#fields .field').evaluateAll((nodes) =>
        nodes.map((node) => {
          const value = node.querySelector('dd .value')!;
          return {
            label: node.querySelector('dt .value .shown')?.textContent ?? '',
            author: node.querySelector('dt .author')?.textContent ?? null,
            quoted: node.querySelector('dd blockquote.quoted') !== null,
            flags: value.getAttribute('data-flags') ?? '',
            shown: value.querySelector('.shown')?.textContent ?? '',
            cut: value.querySelector('.truncated') !== null,
            flagText: [...value.querySelectorAll('.flag')].map((f) => f.textContent ?? ''),
          };
        }),
      );
      expect(shownFields).toHaveLength(Math.min(BATCH, corpus.length - batch * BATCH));
      shownFields.forEach((field, i) => {
        const index = batch * BATCH + i;
        const item = corpus[index]!;
        const problem = (what: string) => failures.push(`#${index} (${item.note}) ${JSON.stringify(item.text)}: ${what}`);
        if (field.label !== `Item ${index}`) problem(`label ${field.label}`);
        const multiline = index % 3 === 0;
        const raw = [...field.shown].filter((c) => HIDDEN.test(c) && !(multiline && (c === '\n' || c === '\t')));
        if (raw.length) problem(`raw ${raw.map((c) => c.codePointAt(0)!.toString(16)).join(',')}`);
        if (field.cut) problem('cut'); // every corpus string is under the cut length
        else if (unescapeShown(field.shown) !== item.text) problem(`shown as ${JSON.stringify(field.shown)}`);
        if ((item.hidden.length > 0 || item.lookalike) && field.flags === '') problem('not flagged');
        if (item.lookalike && !/mixed-script|confusable/.test(field.flags)) problem(`no look-alike flag (${field.flags})`);
        if (field.flags !== '' && field.flagText.length === 0) problem('flag not explained in words');
        if (multiline && (!field.quoted || field.author !== 'written on GitHub by @octocat')) problem('upstream text not quoted with its author');
        checked += 1;
      });
      // The headline goes through the same hygiene.
      const headline = (await page.locator('#summary .shown').textContent()) ?? '';
      expect([...headline].filter((c) => HIDDEN.test(c))).toEqual([]);
      // The first screen only: a full-page shot of 1,000 fields is too tall to render.
      mkdirSync(SCREENSHOT_DIR, { recursive: true });
      if (batch === 0) await page.screenshot({ path: join(SCREENSHOT_DIR, 'hygiene-corpus-batch0-390x844.png') });
    }
    expect(failures.slice(0, 20)).toEqual([]);
    expect(checked).toBe(corpus.length);
  });
});

describe('the hostile-text corpus on the Passport emulator', () => {
  it('prints all 10,000 strings escaped and flagged, none raw, none cut', { timeout: 600_000 }, async () => {
    const screen = await emulator.showInbox();
    const failures: string[] = [];
    // One line per field starts "│ Item N"; its value runs until the next field's line.
    const starts = [...screen.matchAll(/^│ Item (\d+)(?: \(written on GitHub by @octocat\))?: /gm)];
    expect(starts).toHaveLength(corpus.length);
    starts.forEach((match, k) => {
      const index = Number(match[1]);
      const item = corpus[index]!;
      const end = k + 1 < starts.length ? starts[k + 1]!.index : screen.length;
      const block = screen.slice(match.index + match[0].length, end).replace(/\n$/, '');
      // The value's own lines: the first, then those indented under it (a batch's last field runs into what follows).
      const all = block.split('\n');
      const stop = all.findIndex((l, i) => i > 0 && !l.startsWith('│   '));
      const lines = stop === -1 ? all : all.slice(0, stop);
      const flagLines = lines.filter((l) => /^│ {3}! /.test(l));
      const valueText = lines.filter((l) => !/^│ {3}! /.test(l)).join('\n');
      const problem = (what: string) => failures.push(`#${index} (${item.note}) ${JSON.stringify(item.text)}: ${what}`);
      const raw = [...lines.join('\n')].filter((c) => HIDDEN.test(c) && c !== '\n');
      if (raw.length) problem(`raw ${raw.map((c) => c.codePointAt(0)!.toString(16)).join(',')}`);
      const multiline = index % 3 === 0;
      const value = multiline ? valueText.replace(/^\n│ {3}“/, '').replace(/”$/, '').replace(/\n│ {3}/g, '\n') : valueText.replace(/\n│ {3}/g, '\n');
      if (unescapeShown(value) !== item.text) problem(`printed as ${JSON.stringify(value)}`);
      if ((item.hidden.length > 0 || item.lookalike) && flagLines.length === 0) problem('not flagged');
      if (item.lookalike && !flagLines.some((l) => /different scripts|look-alike/.test(l))) problem('no look-alike flag');
    });
    expect(failures.slice(0, 20)).toEqual([]);
  });
});
