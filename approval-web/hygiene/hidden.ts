/**
 * Characters that change how text looks, or hide text, without being seen: found by Unicode property (the engine's
 * own Unicode tables, Unicode 15.1 or later on Node 20+), never by a list of code points, so a character added to a
 * class in a later Unicode version is caught without a change here.
 */

export type HiddenKind = 'bidi' | 'tag' | 'control' | 'separator' | 'variation-selector' | 'invisible' | 'unassigned' | 'line-break' | 'space';

/**
 * Everything escaped in any text: Default_Ignorable_Code_Point, format (Cf), line and paragraph separators (Zl, Zp),
 * variation selectors, controls (Cc), bidi controls, and code points with no agreed glyph (unassigned, private use,
 * lone surrogates). Tags (U+E0000..E007F) are Cf or unassigned, so they are in here too.
 */
const ALWAYS = String.raw`\p{Default_Ignorable_Code_Point}\p{Cf}\p{Zl}\p{Zp}\p{Variation_Selector}\p{Cc}\p{Bidi_Control}\p{Cn}\p{Co}\p{Cs}`;

// Free text keeps its tabs and line breaks (CR only before LF); a one-line value escapes them, and any space that
// is not U+0020 (no-break, ideographic, en/em spaces), which a one-line value could use to fake a word break.
const MULTILINE = new RegExp(String.raw`\r\n|(?:(?![\t\n])[${ALWAYS}])`, 'gu');
const ONE_LINE = new RegExp(String.raw`[${ALWAYS}]|(?! )\p{Zs}`, 'gu');

const TAG = /^[\u{E0000}-\u{E007F}]$/u;

/** Why a character was escaped, most specific class first. */
export function kindOf(char: string): HiddenKind {
  if (/^[\t\n\r]$/.test(char)) return 'line-break';
  if (/^\p{Bidi_Control}$/u.test(char)) return 'bidi';
  if (TAG.test(char)) return 'tag';
  if (/^\p{Cc}$/u.test(char)) return 'control';
  if (/^[\p{Zl}\p{Zp}]$/u.test(char)) return 'separator';
  if (/^\p{Variation_Selector}$/u.test(char)) return 'variation-selector';
  if (/^\p{Zs}$/u.test(char)) return 'space';
  if (/^[\p{Cn}\p{Co}\p{Cs}]$/u.test(char)) return 'unassigned';
  return 'invisible';
}

/** The matches to escape in `text`; a CRLF pair in free text is a line break and is not escaped. */
export function hiddenIn(text: string, multiline: boolean): { index: number; char: string }[] {
  const found: { index: number; char: string }[] = [];
  for (const match of text.matchAll(multiline ? MULTILINE : ONE_LINE)) {
    if (match[0] === '\r\n') continue;
    found.push({ index: match.index, char: match[0] });
  }
  return found;
}

/** Text with every hidden character removed: what the eye takes in, used to look for look-alikes behind them. */
export function withoutHidden(text: string): string {
  // \x0B rather than \v: Stryker's regex mutator turns \v into \V, which a u-flag pattern refuses, and then no mutant runs.
  return text.replace(ONE_LINE, (c) => (/^[\t\n\x0B\f\r\p{Zs}\p{Zl}\p{Zp}]$/u.test(c) ? ' ' : ''));
}

/** `⟨U+202E⟩`: the visible stand-in for one hidden character. */
export function escapeOf(char: string): string {
  return `⟨U+${char.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}⟩`;
}
