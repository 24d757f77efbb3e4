import { domainToUnicode } from 'node:url';
import { imitatesAscii } from './hygiene/confusables.ts';
import { escapeOf, hiddenIn, kindOf, withoutHidden, type HiddenKind } from './hygiene/hidden.ts';
import { mixesScripts } from './hygiene/scripts.ts';
export { fingerprint } from './hygiene/fingerprint.ts';
import type { UpstreamAuthor } from '../kernel/index.ts';

/**
 * Display hygiene (DESIGN section 4), as pure functions every screen renders through: the approval page, the audit
 * dashboard, push and webhook messages (approval-web/notify) and the Passport emulator (gateway/commands/passport.ts).
 * Characters that change how text looks without being seen become visible escapes and are flagged, by Unicode
 * property (`hygiene/hidden.ts`); words that mix scripts or imitate ASCII words are flagged after UTS #39
 * (`hygiene/scripts.ts`, `hygiene/confusables.ts`); hostnames show in punycode; long values are cut only with a marker
 * and the whole value kept; money is formatted from minor units with its ISO code. Escaping for HTML is JSX's job.
 *
 * It lives in approval-web, the face humans see, and imports no other part of Countersign but kernel types (the
 * architecture test holds it to that), so the gateway's Passport emulator can import it along the allowed
 * gateway -> approval-web arrow, and it costs the kernel's review budget nothing.
 */

export type Flag = HiddenKind | 'mixed-script' | 'confusable' | 'not-https' | 'bad-url' | 'bad-amount';

/** A run of text to show as is, or the visible escape of one hidden character (`⟨U+202E⟩`). */
export interface Piece {
  text: string;
  escaped: boolean;
}

export interface Inspected {
  pieces: Piece[];
  flags: Flag[];
}

/** Values longer than this are shown cut, with an explicit marker and a way to see all of it. */
export const LONG_VALUE = 500;

/**
 * Splits text into visible runs and escapes of hidden characters, and flags what it found. A one-line value (the
 * default: summaries, labels, identifiers) also escapes tabs, line breaks and spaces other than U+0020; free text
 * (`multiline`: descriptions, comments, reasons) keeps its line breaks and tabs.
 */
export function inspect(text: string, options: { multiline?: boolean } = {}): Inspected {
  const pieces: Piece[] = [];
  const flags = new Set<Flag>();
  let last = 0;
  for (const { index, char } of hiddenIn(text, options.multiline ?? false)) {
    if (index > last) pieces.push({ text: text.slice(last, index), escaped: false });
    pieces.push({ text: escapeOf(char), escaped: true });
    flags.add(kindOf(char));
    last = index + char.length;
  }
  if (last < text.length) pieces.push({ text: text.slice(last), escaped: false });
  for (const flag of lookalikes(text)) flags.add(flag);
  return { pieces, flags: [...flags] };
}

/** Only the flags: what `inspect` would say about `text`. */
export function flagsOf(text: string, options: { multiline?: boolean } = {}): Flag[] {
  return inspect(text, options).flags;
}

/**
 * `mixed-script` when a word mixes scripts (UTS #39, Highly Restrictive), `confusable` when a word that is not ASCII
 * has an ASCII skeleton. Hidden characters are removed first, so they cannot split a word to hide it.
 */
export function lookalikes(text: string): Flag[] {
  if (!/[^\x00-\x7f]/.test(text)) return [];
  const flags = new Set<Flag>();
  // A symbol that passes for one ASCII letter or digit (𝈓, a Greek musical symbol, for F) is part of the word it
  // dresses; other symbols (€, ™) separate words. A word needs a letter, so "3 × 4" is not taken for "3 x 4"; a letter
  // number counts as one (Roman numerals: "ⅠⅠⅽ", all three U+2160-U+217F, passes for "llc").
  const visible = withoutHidden(text).replace(/\p{S}/gu, (c) => (imitatesAscii(c) ? c : ' '));
  for (const word of visible.match(/[\p{L}\p{M}\p{N}\p{S}]+/gu) ?? []) {
    if (!/[\p{L}\p{Nl}]/u.test(word)) continue;
    if (mixesScripts(word)) flags.add('mixed-script');
    if (imitatesAscii(word)) flags.add('confusable');
  }
  return [...flags];
}

/** True when one word mixes scripts ("pаypal" with a Cyrillic а); kept for callers that only ask that. */
export function isMixedScript(text: string): boolean {
  return lookalikes(text).includes('mixed-script');
}

/** "written on GitHub by @octocat": how every screen names the author of upstream text. */
export function authorLine(author: UpstreamAuthor): string {
  return `written on ${author.on}${author.by ? ` by ${author.by}` : ''}`;
}

/** Cuts at `max` code points (never inside a surrogate pair); `hidden` is how many code points were left out. */
export function truncate(text: string, max = LONG_VALUE): { head: string; hidden: number; total: number } {
  const points = Array.from(text);
  if (points.length <= max) return { head: text, hidden: 0, total: points.length };
  return { head: points.slice(0, max).join(''), hidden: points.length - max, total: points.length };
}

export interface DisplayUrl {
  /** The URL as shown: hostname in punycode, hidden characters escaped by `inspect` later. */
  text: string;
  hostname: string | null;
  flags: Flag[];
}

/** A URL as an approver should read it: the hostname in punycode (`new URL` gives it), flagged unless https. */
export function displayUrl(value: string): DisplayUrl {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return { text: value, hostname: null, flags: ['bad-url'] };
  }
  const flags: Flag[] = url.protocol === 'https:' ? [] : ['not-https'];
  // A punycode label hides its letters; look at them decoded ("xn--ggle-0nda" is Armenian-dressed "google").
  if (/(^|\.)xn--/i.test(url.hostname)) flags.push(...lookalikes(domainToUnicode(url.hostname)));
  // href re-serializes with the punycode hostname; credentials in a URL are shown, since they are what was asked.
  return { text: url.href, hostname: url.hostname, flags };
}

// ISO 4217 minor units where they are not 2 (and how Stripe counts them).
const ZERO_DECIMAL = new Set(['BIF', 'CLP', 'DJF', 'GNF', 'JPY', 'KMF', 'KRW', 'MGA', 'PYG', 'RWF', 'UGX', 'VND', 'VUV', 'XAF', 'XOF', 'XPF', 'ISK']);
const THREE_DECIMAL = new Set(['BHD', 'IQD', 'JOD', 'KWD', 'LYD', 'OMR', 'TND']);

/** How many minor units a currency has: 0 (JPY), 3 (KWD) or 2. */
export function minorDigits(currency: string): number {
  const code = currency.toUpperCase();
  if (ZERO_DECIMAL.has(code)) return 0;
  if (THREE_DECIMAL.has(code)) return 3;
  return 2;
}

/**
 * Formats an integer amount of minor units with its ISO code, never guessing: `formatMoney(12000, 'usd')` is
 * "120.00 USD", `formatMoney(500, 'JPY')` is "500 JPY". A value that is not a whole number, or a code that is not
 * three letters, comes back as it was with the `bad-amount` flag.
 */
export function formatMoney(minor: number | string, currency: string | undefined): { text: string; flags: Flag[] } {
  const amount = typeof minor === 'string' && /^-?\d+$/.test(minor) ? Number(minor) : minor;
  const code = (currency ?? '').toUpperCase();
  if (typeof amount !== 'number' || !Number.isSafeInteger(amount) || !/^[A-Z]{3}$/.test(code)) {
    return { text: `${String(minor)} ${currency ?? '(no currency)'}`, flags: ['bad-amount'] };
  }
  const digits = minorDigits(code);
  const sign = amount < 0 ? '-' : '';
  const whole = Math.abs(amount);
  const units = Math.floor(whole / 10 ** digits);
  const cents = digits > 0 ? `.${String(whole % 10 ** digits).padStart(digits, '0')}` : '';
  return { text: `${sign}${units.toLocaleString('en-US')}${cents} ${code}`, flags: [] };
}

/** Plain words for each flag, shown next to the value. */
export const FLAG_TEXT: Record<Flag, string> = {
  bidi: 'Contains direction-changing characters (shown as ⟨U+…⟩): the text may read differently than it looks.',
  invisible: 'Contains invisible characters (shown as ⟨U+…⟩).',
  tag: 'Contains invisible tag characters (shown as ⟨U+…⟩), sometimes used to hide instructions.',
  control: 'Contains control characters (shown as ⟨U+…⟩).',
  separator: 'Contains line or paragraph separators (shown as ⟨U+…⟩) that can break text where it looks whole.',
  'variation-selector': 'Contains variation selectors (shown as ⟨U+…⟩) that change how the character before them looks.',
  unassigned: 'Contains unassigned or private-use characters (shown as ⟨U+…⟩) that have no agreed look.',
  'line-break': 'Contains line breaks or tabs (shown as ⟨U+…⟩) in a value meant to be one line.',
  space: 'Contains unusual spaces (shown as ⟨U+…⟩) that look like ordinary ones.',
  'mixed-script': 'Mixes letters from different scripts in one word (like a Cyrillic а in "pаypal"): check the spelling carefully.',
  confusable: 'Contains look-alike letters (like ｐ or 𝐩 for p) that imitate plain ones: the text may not say what it seems.',
  'not-https': 'Not an https address: the connection is not encrypted.',
  'bad-url': 'Not a valid URL.',
  'bad-amount': 'This amount could not be read as a whole number of minor units with a currency code.',
};
