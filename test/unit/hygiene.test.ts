import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { authorLine, displayUrl, fingerprint, formatMoney, inspect, isMixedScript, truncate, LONG_VALUE } from '../../approval-web/hygiene.ts';
import { skeleton } from '../../approval-web/hygiene/confusables.ts';
import { KNOWN_SCRIPTS, scriptsOf } from '../../approval-web/hygiene/scripts.ts';
import { FieldValue } from '../../approval-web/views/value.tsx';
import { FAMILIES, ISSUE_CHARACTERS, allHidden, disguise, unescapeShown } from '../support/hostile-text.ts';

const shown = (text: string) => inspect(text).pieces.map((p) => p.text).join('');
const unescape = unescapeShown;

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
    expect(inspect('a\u2028b').flags).toEqual(['separator']);
    expect(inspect('a\uFE0Fb').flags).toEqual(['variation-selector']);
    expect(inspect('a\u{E0100}b').flags).toEqual(['variation-selector']);
    expect(inspect('a\uE000b').flags).toEqual(['unassigned']); // private use
    const tagged = `ok${String.fromCodePoint(0xe0049)}${String.fromCodePoint(0xe007f)}`;
    expect(shown(tagged)).toBe('ok⟨U+E0049⟩⟨U+E007F⟩');
    expect(inspect(tagged).flags).toEqual(['tag']);
    expect(inspect('a\u0007b').flags).toEqual(['control']);
  });

  it('leaves ordinary text in many languages, HTML and markdown as plain text with no flags (JSX escapes it)', () => {
    const ordinary = [
      'Refund $120.00 USD', '<script>alert(1)</script>', '![x](https://evil.example/a.png)', 'Grüße, naïve café', 'Привет мир',
      'Καλημέρα', 'Ångström, São Paulo, señor, Łódź, Ørsted', 'שלום עולם', 'مرحبا بالعالم', '東京タワーとTokyo Tower', '한국어 text',
      'नमस्ते दुनिया', 'Fix login on Safari 17 (#42)', 'Über-Änderung für straße.de', '50 € netto, 3 × 29,00 €',
    ];
    for (const text of ordinary) expect(inspect(text), text).toEqual({ pieces: [{ text, escaped: false }], flags: [] });
    // Free text keeps its line breaks and tabs; a one-line value shows them escaped.
    expect(inspect('line one\r\nline two\ttabbed', { multiline: true })).toEqual({ pieces: [{ text: 'line one\r\nline two\ttabbed', escaped: false }], flags: [] });
    expect(shown('main\ninto production')).toBe('main⟨U+000A⟩into production');
    expect(inspect('main\ninto production').flags).toEqual(['line-break']);
  });

  it('escapes and flags every character issue 12 found raw, in one-line values and in free text', () => {
    for (const char of ISSUE_CHARACTERS) {
      const hex = char.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0');
      for (const multiline of [false, true]) {
        const result = inspect(`pay${char}pal`, { multiline });
        expect(result.pieces.map((p) => p.text).join(''), hex).toBe(`pay⟨U+${hex}⟩pal`);
        expect(result.flags.length, hex).toBeGreaterThan(0);
      }
    }
  });

  it('escapes every member of every hidden class by property, over all of Unicode (not a list)', () => {
    const hidden = allHidden();
    expect(hidden.length).toBeGreaterThan(4000); // the sweep itself works
    for (const char of hidden) {
      if (char === '\n' || char === '\t') continue;
      const result = inspect(`a${char}b`, { multiline: true });
      expect(result.pieces, `U+${char.codePointAt(0)!.toString(16)}`).toHaveLength(3);
      expect(result.flags.length).toBeGreaterThan(0);
    }
    // Unusual spaces are escaped in one-line values, where they could fake a word break in a branch or a name.
    for (const space of ['\u00A0', '\u2002', '\u2007', '\u202F', '\u3000', '\u1680']) expect(inspect(`fix${space}into${space}main`).flags).toEqual(['space']);
  }, 60_000); // sweeps all 1.1 million code points: 1 s alone, 10 s on a machine at load 25

  it('flags each look-alike family the issue names, and every family built from the confusables data', () => {
    const cases = {
      armenian: 'g\u0585\u0585gle', // gօօgle
      cherokee: '\u13E2\u13AA\u13A9\u13E2\u13AA\u13DE', // ᏢᎪᎩᏢᎪᏞ
      fullwidth: '\uFF50\uFF41\uFF59\uFF50\uFF41\uFF4C', // ｐａｙｐａｌ
      mathematical: '\u{1D429}\u{1D41A}\u{1D432}\u{1D429}\u{1D41A}\u{1D425}', // 𝐩𝐚𝐲𝐩𝐚𝐥
    };
    expect(inspect(cases.armenian).flags).toEqual(['mixed-script', 'confusable']);
    // Letters written only with Roman numerals (letter numbers, not letters): "llc" as U+2160 U+2160 U+217D, found by
    // the hygiene fuzz (seed -359043162); digits alone stay unflagged.
    expect(inspect('Pay \u2160\u2160\u217D now').flags).toContain('confusable');
    expect(inspect('\u2160\u2160\u217D').flags).toEqual(['confusable']);
    expect(inspect('3 \u00D7 4 = 12, \u0661\u0662').flags).toEqual([]);
    for (const [name, text] of Object.entries(cases)) expect(inspect(`Pay ${text} now`).flags, name).toContain('confusable');
    for (const family of Object.keys(FAMILIES)) {
      for (const word of ['google', 'paypal', 'github', 'microsoft']) {
        const whole = disguise(family === 'Cherokee' ? word.toUpperCase() : word, family, true);
        const one = disguise(word, family, false);
        for (const text of [whole, one].filter((t): t is string => t !== null)) {
          const flags = inspect(`${text} login`).flags;
          expect(flags.includes('mixed-script') || flags.includes('confusable'), `${family}: ${text}`).toBe(true);
        }
      }
    }
  });

  it('knows a script for every letter the engine knows, so mixed-script checks miss none', () => {
    const known = KNOWN_SCRIPTS.map(([, re]) => re);
    const unknown: string[] = [];
    for (let cp = 0x80; cp < 0x110000; cp++) {
      if (cp >= 0xd800 && cp <= 0xdfff) continue;
      const char = String.fromCodePoint(cp);
      if (!/^[\p{L}\p{M}\p{N}]$/u.test(char) || /^[\p{sc=Zyyy}\p{sc=Zinh}]$/u.test(char)) continue;
      if (!known.some((re) => re.test(char))) unknown.push(cp.toString(16));
    }
    expect(unknown).toEqual([]);
  });

  it('flags words that mix Latin with Cyrillic or Greek, and look-alike words in Latin text', () => {
    expect(isMixedScript('p\u0430ypal.com')).toBe(true); // Cyrillic а
    expect(isMixedScript('micros\u03BFft')).toBe(true); // Greek ο
    expect(inspect('pay \u0440\u0430\u0443 now').flags).toEqual(['confusable']); // "рау": all Cyrillic, passing for "pay"
    expect(isMixedScript('pay\u200B\u0430l')).toBe(true); // a zero-width space does not split the word
    expect(isMixedScript('paypal.com')).toBe(false);
    expect(isMixedScript('Привет, world')).toBe(false);
    expect(inspect('p\u0430ypal').flags).toEqual(['mixed-script', 'confusable']);
  });

  it('never loses a character: unescaping what is shown gives the original back', { timeout: 60_000 }, () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (text) => {
        const visible = shown(text);
        expect(unescape(visible)).toBe(text);
        // Nothing that hides or reorders text survives into what is shown.
        expect(visible).not.toMatch(/[\p{Default_Ignorable_Code_Point}\p{Cf}\p{Cc}\p{Zl}\p{Zp}\p{Variation_Selector}]/u);
      }),
    );
  });

  it('property: hidden characters drawn from every class, mixed into ordinary strings, are all escaped and flagged', () => {
    const hidden = fc.constantFrom(...ISSUE_CHARACTERS, ...allHidden().filter((c) => c !== '\n' && c !== '\t'));
    const word = fc.constantFrom('paypal', 'Merge PR #42', 'main', 'acme/web', '<b>x</b>', '**bold**', 'Привет', '東京', '');
    const text = fc.array(fc.oneof(hidden, word, fc.string({ maxLength: 8 })), { minLength: 1, maxLength: 12 }).map((parts) => parts.join(''));
    fc.assert(
      fc.property(text, fc.boolean(), (value, multiline) => {
        const result = inspect(value, { multiline });
        const visible = result.pieces.map((p) => p.text).join('');
        expect(unescape(visible)).toBe(value); // nothing lost, nothing cut
        const raw = [...visible].filter((c) => /^[\p{Default_Ignorable_Code_Point}\p{Cf}\p{Zl}\p{Zp}\p{Variation_Selector}\p{Bidi_Control}]$/u.test(c) || (/^\p{Cc}$/u.test(c) && !(multiline && /[\t\n\r]/.test(c))));
        expect(raw).toEqual([]);
        if (result.pieces.some((p) => p.escaped)) expect(result.flags.length).toBeGreaterThan(0);
      }),
      { numRuns: 2000 },
    );
  });

  it('property: a look-alike letter from any family put into an ASCII word is flagged', () => {
    const families = Object.keys(FAMILIES);
    fc.assert(
      fc.property(fc.constantFrom('paypal', 'google', 'github', 'stripe', 'approve', 'admin'), fc.constantFrom(...families), fc.boolean(), fc.nat(9), (word, family, all, pick) => {
        const disguised = disguise(family === 'Cherokee' && all ? word.toUpperCase() : word, family, all, pick);
        fc.pre(disguised !== null);
        const flags = inspect(`Approve ${disguised} now`).flags;
        expect(flags.includes('mixed-script') || flags.includes('confusable'), disguised!).toBe(true);
      }),
      { numRuns: 1000 },
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
    // A punycode hostname hides its letters, so it is flagged by what it decodes to.
    expect(displayUrl('https://p\u0430ypal.com/').flags).toEqual(['mixed-script', 'confusable']);
    expect(displayUrl('https://xn--ggle-0nda.com/').flags).toContain('mixed-script');
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

  it('a commit field that is not a hex SHA is shown whole through the hygiene, not cut raw into its short form (found by test/fuzz)', () => {
    const html = String(FieldValue({ field: { label: 'Commit', kind: 'commit', value: `aa\u202Eaaaaaaaaaaaaaaaaaaaa\uDC29` } }));
    expect(html).not.toMatch(/[\u202E\uDC29]/);
    expect(html).toContain('⟨U+202E⟩');
    expect(String(FieldValue({ field: { label: 'Commit', kind: 'commit', value: 'a'.repeat(40) } }))).toContain('>aaaaaaa</code>');
  });

  it('a symbol that passes for a letter inside a word is a look-alike; ordinary symbols are not (found by test/fuzz)', () => {
    expect(inspect('\u{1D213}acebook').flags).toContain('confusable'); // a Greek musical symbol for F
    for (const text of ['3 × 4', '3×4', 'Acme™ Pro', '50 € netto', '© 2026 Acme', 'a + b = c', '😀 ok']) expect(inspect(text).flags, text).toEqual([]);
  });

  it('splits text into exact pieces: no empty runs around escapes at the start, between two, or at the end', () => {
    expect(inspect('\u202Eab\u200B\u200Bc\u200B')).toEqual({
      pieces: [
        { text: '⟨U+202E⟩', escaped: true },
        { text: 'ab', escaped: false },
        { text: '⟨U+200B⟩', escaped: true },
        { text: '⟨U+200B⟩', escaped: true },
        { text: 'c', escaped: false },
        { text: '⟨U+200B⟩', escaped: true },
      ],
      flags: ['bidi', 'invisible'],
    });
    expect(inspect('')).toEqual({ pieces: [], flags: [] });
  });

  it('looks for look-alikes behind hidden characters: an invisible one joins a word, a space or line break splits it', () => {
    // A zero-width space inside "аpple" (Cyrillic а) is removed, not made a space: the word is still one and mixed.
    expect(inspect('\u0430\u200Bpple').flags).toEqual(['invisible', 'mixed-script', 'confusable']);
    // Removed means removed: nothing stands in its place that could make a word mix scripts.
    expect(inspect('\u041F\u0440\u0438\u0432\u0435\u0442\u200B').flags).toEqual(['invisible']); // "Привет" + ZWSP
    // Free text keeps its line breaks and no-break spaces unflagged; they still separate two words of two scripts.
    expect(inspect('\u041F\u0440\u0438\u0432\u0435\u0442\u00A0world', { multiline: true }).flags).toEqual([]);
    expect(inspect('\u041F\u0440\u0438\u0432\u0435\u0442\nworld', { multiline: true }).flags).toEqual([]);
    // A symbol that imitates no letter separates words too.
    expect(inspect('Acme\u2122\u041F\u0440\u0438\u0432\u0435\u0442').flags).toEqual([]); // Acme™Привет
    // A combining mark belongs to its word: "а́pple" is one word mixing Cyrillic and Latin.
    expect(inspect('\u0430\u0301pple').flags).toEqual(['mixed-script']);
  });

  it('judges words written without any ASCII, and letters of no particular script', () => {
    expect(inspect('\uFF50\uFF41\uFF59\uFF50\uFF41\uFF4C').flags).toEqual(['confusable']); // ｐａｙｐａｌ alone
    expect(isMixedScript('\u00E9\u0430')).toBe(true); // é (Latin) with а (Cyrillic), no ASCII letter in the word
    // Only a whole ASCII skeleton makes a look-alike: "ажур" (skeleton "aжyp") and "жар" ("жap") are Russian words.
    expect(inspect('\u0430\u0436\u0443\u0440').flags).toEqual([]);
    expect(inspect('\u0436\u0430\u0440').flags).toEqual([]);
    // U+02BB (ʻokina) is a letter of the Common script: it goes with any script, alone or in a word.
    expect(inspect('Hawai\u02BBi').flags).toEqual([]);
    expect(inspect('\u02BB\u02BB').flags).toEqual([]);
    // ASCII digits and punctuation are Common too: "Москва2026" and "東京2026" are one script each.
    expect(inspect('\u041C\u043E\u0441\u043A\u0432\u04302026').flags).toEqual([]);
    expect(inspect('\u6771\u4EAC2026').flags).toEqual([]);
  });

  it('computes UTS #39 skeletons: default ignorables dropped, each character mapped to its prototype', () => {
    expect(skeleton('pay\u00ADpal')).toBe('paypal'); // a soft hyphen is ignorable
    expect(skeleton('\uFF50\u0430y')).toBe('pay');
    expect(skeleton('caf\u00E9')).toBe('cafe\u0301'); // NFD
  });

  it('reads money only from whole numbers written as plain digits, and a three-letter code', () => {
    for (const minor of [' 700', '+7', '1e3', '', '7 ']) expect(formatMoney(minor, 'USD'), JSON.stringify(minor)).toEqual({ text: `${minor} USD`, flags: ['bad-amount'] });
    expect(formatMoney(100, 'usdx')).toEqual({ text: '100 usdx', flags: ['bad-amount'] });
    expect(formatMoney(100, 'xusd').flags).toEqual(['bad-amount']);
    expect(formatMoney(0, 'USD')).toEqual({ text: '0.00 USD', flags: [] });
    expect(formatMoney(-5, 'JPY')).toEqual({ text: '-5 JPY', flags: [] });
  });

  it('cuts a value of exactly the limit not at all', () => {
    expect(truncate('abc', 3)).toEqual({ head: 'abc', hidden: 0, total: 3 });
    expect(truncate('abcd', 3)).toEqual({ head: 'abc', hidden: 1, total: 4 });
  });

  it('names the author of upstream text, with or without a login', () => {
    expect(authorLine({ on: 'GitHub', by: '@octocat' })).toBe('written on GitHub by @octocat');
    expect(authorLine({ on: 'GitHub', by: null })).toBe('written on GitHub');
  });

  it('shows a digest as five groups of four upper-case hex digits, and anything else as not a digest', () => {
    const digest = '3f2a9c0177be42d0aa11' + 'b'.repeat(44);
    expect(fingerprint(digest)).toBe('3F2A 9C01 77BE 42D0 AA11');
    expect(fingerprint(digest.toUpperCase())).toBe('3F2A 9C01 77BE 42D0 AA11');
    for (const bad of [digest.slice(1), `${digest}0`, `x${digest}`, `${digest.slice(0, 63)}g`, '']) expect(fingerprint(bad), bad).toBe('(not a request digest)');
  });
});

describe('a character no script claims', () => {
  it('is a script of its own, named by its code point, not Common (which goes with every script)', () => {
    // U+0378 is unassigned (Script=Unknown): neither a known script nor Common/Inherited.
    expect(scriptsOf('\u0378')).toEqual(new Set(['U+378']));
    expect(scriptsOf('\u0378')).toEqual(scriptsOf('\u0378')); // the same answer again (from the cache)
    expect(scriptsOf('\u2014')).toBeNull(); // EM DASH: Common
  });
});
