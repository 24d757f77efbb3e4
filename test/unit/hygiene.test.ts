import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { displayUrl, formatMoney, inspect, isMixedScript, truncate, LONG_VALUE } from '../../approval-web/hygiene.ts';

const shown = (text: string) => inspect(text).pieces.map((p) => p.text).join('');
const unescape = (text: string) => text.replace(/⟨U\+([0-9A-F]{4,6})⟩/g, (_, hex: string) => String.fromCodePoint(parseInt(hex, 16)));

describe('display hygiene', () => {
  it('shows bidi controls as visible escapes and flags them', () => {
    const result = inspect('invoice\u202Efdp.exe');
    expect(shown('invoice\u202Efdp.exe')).toBe('invoice⟨U+202E⟩fdp.exe');
    expect(result.flags).toEqual(['bidi']);
    for (const char of ['\u202A', '\u202B', '\u202C', '\u202D', '\u2066', '\u2067', '\u2068', '\u2069', '\u200E', '\u200F', '\u061C']) {
      expect(inspect(`a${char}b`).flags).toContain('bidi');
    }
  });

  it('escapes zero-width characters and tag characters, each with its own flag', () => {
    expect(shown('pay\u200Bpal')).toBe('pay⟨U+200B⟩pal');
    for (const char of ['\u200B', '\u200C', '\u200D', '\u2060', '\uFEFF']) expect(inspect(`x${char}y`).flags).toEqual(['invisible']);
    const tagged = `ok${String.fromCodePoint(0xe0049)}${String.fromCodePoint(0xe007f)}`;
    expect(shown(tagged)).toBe('ok⟨U+E0049⟩⟨U+E007F⟩');
    expect(inspect(tagged).flags).toEqual(['tag']);
    expect(inspect('a\u0007b').flags).toEqual(['control']);
  });

  it('leaves ordinary text, HTML and markdown as plain text with no flags (JSX escapes it)', () => {
    for (const text of ['Refund $120.00 USD', '<script>alert(1)</script>', '![x](https://evil.example/a.png)', 'line one\nline two\ttabbed', 'Grüße, naïve café', 'Привет мир', 'Καλημέρα']) {
      expect(inspect(text)).toEqual({ pieces: [{ text, escaped: false }], flags: [] });
    }
  });

  it('flags words that mix Latin with Cyrillic or Greek, and look-alike words in Latin text', () => {
    expect(isMixedScript('p\u0430ypal.com')).toBe(true); // Cyrillic а
    expect(isMixedScript('micros\u03BFft')).toBe(true); // Greek ο
    expect(isMixedScript('pay \u0440\u0430\u0443 now')).toBe(true); // "рау" all Cyrillic look-alikes among Latin words
    expect(isMixedScript('pay\u200B\u0430l')).toBe(true); // a zero-width space does not split the word
    expect(isMixedScript('paypal.com')).toBe(false);
    expect(isMixedScript('Привет, world')).toBe(false);
    expect(inspect('p\u0430ypal').flags).toEqual(['mixed-script']);
  });

  it('never loses a character: unescaping what is shown gives the original back', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (text) => {
        const visible = shown(text);
        expect(unescape(visible)).toBe(text);
        // Nothing that hides or reorders text survives into what is shown.
        expect(visible).not.toMatch(/[\u202A-\u202E\u2066-\u2069\u200B-\u200F\u2060\uFEFF\u061C]|[\u{E0000}-\u{E007F}]/u);
      }),
    );
  });

  it('truncates long values at code points with an exact count of what is hidden', () => {
    const long = 'A'.repeat(10_000);
    expect(truncate(long)).toEqual({ head: 'A'.repeat(LONG_VALUE), hidden: 10_000 - LONG_VALUE, total: 10_000 });
    expect(truncate('short')).toEqual({ head: 'short', hidden: 0, total: 5 });
    const emoji = '😀'.repeat(600);
    const cut = truncate(emoji);
    expect(Array.from(cut.head)).toHaveLength(LONG_VALUE);
    expect(cut.head.endsWith('😀')).toBe(true);
  });

  it('shows hostnames in punycode and flags URLs that are not https', () => {
    expect(displayUrl('https://bücher.example/path')).toEqual({ text: 'https://xn--bcher-kva.example/path', hostname: 'xn--bcher-kva.example', flags: [] });
    expect(displayUrl('http://example.com/').flags).toEqual(['not-https']);
    expect(displayUrl('https://p\u0430ypal.com/').hostname).toBe('xn--pypal-4ve.com');
    expect(displayUrl('not a url')).toEqual({ text: 'not a url', hostname: null, flags: ['bad-url'] });
  });

  it('formats money from minor units with the currency code, including zero- and three-decimal currencies', () => {
    expect(formatMoney(12000, 'usd')).toEqual({ text: '120.00 USD', flags: [] });
    expect(formatMoney(5, 'EUR').text).toBe('0.05 EUR');
    expect(formatMoney(123456789, 'USD').text).toBe('1,234,567.89 USD');
    expect(formatMoney(500, 'JPY').text).toBe('500 JPY');
    expect(formatMoney(1234, 'KWD').text).toBe('1.234 KWD');
    expect(formatMoney(-250, 'GBP').text).toBe('-2.50 GBP');
    expect(formatMoney('700', 'USD').text).toBe('7.00 USD');
    expect(formatMoney(1.5, 'USD').flags).toEqual(['bad-amount']);
    expect(formatMoney(100, 'US').flags).toEqual(['bad-amount']);
    expect(formatMoney(100, undefined)).toEqual({ text: '100 (no currency)', flags: ['bad-amount'] });
  });
});
