import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LONG_VALUE, flagsOf } from '../../approval-web/hygiene.ts';
import { notificationSummary } from '../../approval-web/notify/message.ts';
import { FieldValue, Inline, Value } from '../../approval-web/views/value.tsx';
import { screen } from '../../gateway/commands/passport.ts';
import type { FieldKind, IntentField } from '../../kernel/index.ts';
import { FAMILIES, ISSUE_CHARACTERS, allHidden, disguise, unescapeShown } from '../support/hostile-text.ts';
import { runs, timeout } from './settings.ts';

/**
 * Display hygiene under arbitrary text: whatever a string holds, no hidden character reaches a screen raw (the web
 * page's <Value>, <Inline> and fields, push and webhook summaries, the Passport), hidden characters and look-alikes
 * are flagged, and nothing longer than its bound is shown without a visible marker.
 */

// The classes DESIGN section 4 names, written here from the Unicode properties themselves (not from hygiene/hidden.ts).
const HIDDEN = /[\p{Default_Ignorable_Code_Point}\p{Cf}\p{Zl}\p{Zp}\p{Variation_Selector}\p{Cc}\p{Bidi_Control}\p{Cn}\p{Co}\p{Cs}]/u;
const HIDDEN_BUT_LINES = /(?![\n\t])[\p{Default_Ignorable_Code_Point}\p{Cf}\p{Zl}\p{Zp}\p{Variation_Selector}\p{Cc}\p{Bidi_Control}\p{Cn}\p{Co}\p{Cs}]/u;

const pool = allHidden();
const hiddenChar = fc.oneof(fc.constantFrom(...ISSUE_CHARACTERS), fc.constantFrom(...pool), fc.constantFrom('\u202E', '\u200B', '\uFEFF', '\u{E0041}', '\uD800', '\uDFFF', '\u0378', '\uE000'));
/** Text an attacker would write: ordinary words, HTML, every kind of code point, hidden characters, lone surrogates. */
const hostile = fc
  .array(
    fc.oneof(
      { weight: 3, arbitrary: fc.string({ unit: 'grapheme', maxLength: 12 }) },
      { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 12 }) },
      { weight: 2, arbitrary: hiddenChar },
      { weight: 1, arbitrary: fc.constantFrom('<script>x</script>', '&amp;', '"\'', '\r\n', '\n', '\t', '\r', '\u001b[31m', '⟨U+202E⟩') },
      { weight: 1, arbitrary: fc.string({ unit: fc.constantFrom(...'aé𝐩ｐо😀\u0301'.split('')), minLength: 100, maxLength: 700 }) },
    ),
    { maxLength: 8 },
  )
  .map((parts) => parts.join(''));

const render = (node: unknown) => String(node);
/** HTML text back to characters (Hono escapes & < > " ' only). */
const decode = (html: string) =>
  html.replace(/&(lt|gt|quot|#39|amp);/g, (_, e: string) => ({ lt: '<', gt: '>', quot: '"', '#39': "'", amp: '&' })[e]!);
/** Rendered pieces back to the source text: an escape span stands for its one character (a literal "⟨U+…⟩" stays). */
const readBack = (html: string) =>
  html
    .split(/(<span class="esc">⟨U\+[0-9A-F]{4,6}⟩<\/span>)/)
    .map((part) => (part.startsWith('<span class="esc">') ? String.fromCodePoint(parseInt(/U\+([0-9A-F]+)/.exec(part)![1]!, 16)) : decode(part)))
    .join('');
/** What the person reads in the value's main line, read back to source characters. */
const shownHead = (html: string) => readBack(/<bdi class="shown">([\s\S]*?)<\/bdi>/.exec(html)?.[1] ?? '');
/** Raw line breaks are allowed in free text: LF, tab, and CR before LF. */
const withoutLines = (text: string) => text.replace(/\r\n/g, '');
const points = (text: string) => Array.from(text).length;

describe('hygiene fuzz', () => {
  it('<Value> and <Inline>: no hidden character raw, hidden ones flagged, long values cut only with a marker and shown whole', () => {
    fc.assert(
      fc.property(hostile, fc.boolean(), (text, block) => {
        for (const html of [render(<Value text={text} block={block} />), render(<Inline text={text} />)]) {
          const raw = block ? HIDDEN_BUT_LINES.exec(withoutLines(html)) : HIDDEN.exec(html);
          expect(raw, `raw U+${raw?.[0].codePointAt(0)?.toString(16)} in ${JSON.stringify(text)}`).toBeNull();
          if (HIDDEN_BUT_LINES.test(text.replace(/\r\n/g, ''))) expect(html).toMatch(/data-flags="[^"]+"/);
          const head = shownHead(html);
          const cut = points(text) > LONG_VALUE;
          expect(points(head)).toBe(cut ? LONG_VALUE : points(text));
          expect(text.startsWith(head)).toBe(true);
          if (cut) {
            expect(html).toContain('cut here');
            expect(html).toContain(`Show all (${points(text).toLocaleString('en-US')} characters)`);
            const full = /<div class="full">([\s\S]*?)<\/div>/.exec(html)?.[1] ?? '';
            expect(readBack(full)).toBe(text);
          }
        }
      }),
      runs(150),
    );
  }, timeout(150, 10));

  it('every field kind renders hostile values without a raw hidden character', () => {
    const kinds: FieldKind[] = ['text', 'number', 'money', 'account', 'repository', 'branch', 'commit', 'environment', 'url', 'email', 'person', 'permission'];
    fc.assert(
      fc.property(fc.constantFrom(...kinds), fc.oneof(hostile, fc.integer(), fc.double()), fc.option(hostile), fc.boolean(), (kind, value, currency, upstream) => {
        const field: IntentField = { label: 'x', kind, value, ...(currency !== null ? { currency } : {}), ...(upstream ? { writtenBy: { on: 'GitHub', by: '@x' } } : {}) };
        const html = render(<FieldValue field={field} />);
        expect(HIDDEN_BUT_LINES.exec(withoutLines(html))).toBeNull();
      }),
      runs(100),
    );
  }, timeout(100, 10));

  it('push and webhook summaries: no hidden character raw, at most 300 characters shown before the marker', () => {
    fc.assert(
      fc.property(hostile, (summary) => {
        const shown = notificationSummary(summary);
        expect(HIDDEN.exec(shown)).toBeNull();
        // Plain text cannot tell a typed "⟨U+202E⟩" from an escape (harmless: it only looks more suspicious).
        if (summary.includes('⟨')) return;
        const body = shown.replace(/ ⚠ [^⚠]*$/, '');
        const cut = /… \[(\d+) more characters\]$/.exec(body);
        const head = unescapeShown(cut ? body.slice(0, cut.index) : body);
        expect(points(head)).toBeLessThanOrEqual(300);
        expect(summary.startsWith(head)).toBe(true);
        if (!cut) expect(head).toBe(summary);
      }),
      runs(150),
    );
  }, timeout(150, 10));

  it('the Passport screen: no hidden character raw, and no value breaks out of its box', () => {
    const field = fc.record({ label: hostile, kind: fc.constantFrom<FieldKind>('text', 'money', 'url', 'email'), value: hostile, upstream: fc.boolean() });
    fc.assert(
      fc.property(hostile, hostile, fc.array(field, { maxLength: 3 }), fc.dictionary(hostile, hostile, { maxKeys: 2 }), fc.array(fc.record({ label: hostile, text: hostile }), { maxLength: 2 }), (summary, agentName, fields, pins, agentText) => {
        const out = screen({
          id: 'req_1',
          digest: 'd'.repeat(64),
          body: { tool: 't_x', args: {}, pins, principal: { agentId: 'a', agentName, owner: 'o@example.com' }, policyVersion: 'v', requestId: 'r', nonce: 'n', expiresAt: '2026-01-01T00:00:00.000Z' },
          intent: {
            summary,
            consequence: 'writes',
            reversible: false,
            fields: fields.map((f) => ({ label: f.label, kind: f.kind, value: f.value, currency: 'USD', ...(f.upstream ? { writtenBy: { on: 'GitHub', by: '@x' } } : {}) })),
            pins,
            agentText,
          },
        });
        expect(HIDDEN_BUT_LINES.exec(out)).toBeNull();
        for (const line of out.split('\n').slice(0, -1)) expect(line, JSON.stringify(line)).toMatch(/^[┌│└]/);
      }),
      runs(100),
    );
  }, timeout(100, 10));

  it('a word written with look-alikes is flagged, also with hidden characters between its letters', () => {
    const families = Object.keys(FAMILIES);
    fc.assert(
      fc.property(fc.stringMatching(/^[a-z]{3,10}$/), fc.constantFrom(...families), fc.boolean(), fc.nat(8), fc.option(hiddenChar), (word, family, all, pick, between) => {
        const disguised = disguise(family === 'Cherokee' ? word.toUpperCase() : word, family, all, pick);
        fc.pre(disguised !== null);
        const text = between ? Array.from(disguised!).join(between) : disguised!;
        const flags = flagsOf(text);
        // A separator or a line break between the letters visibly splits the word: then its own flag is what counts.
        const splits = between !== null && /^[\t\n\v\f\r\p{Zs}\p{Zl}\p{Zp}\u0085]$/u.test(between);
        const wanted = splits ? flags.length > 0 : flags.some((f) => f === 'confusable' || f === 'mixed-script');
        expect(wanted, `${JSON.stringify(text)} gave ${flags.join(',')}`).toBe(true);
      }),
      runs(150),
    );
  }, timeout(150, 10));
});
