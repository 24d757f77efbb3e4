/**
 * Display hygiene (DESIGN section 4), as pure functions every screen renders through: characters that change how
 * text looks without being seen become visible escapes and are flagged; words mixing Latin with look-alike scripts
 * are flagged; hostnames show in punycode; long values are cut only with a marker and the whole value kept; money is
 * formatted from minor units with its ISO code. Escaping for HTML is JSX's job, never this module's.
 */

export type Flag = 'bidi' | 'invisible' | 'tag' | 'control' | 'mixed-script' | 'not-https' | 'bad-url' | 'bad-amount';

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

const BIDI = /[\u202A-\u202E\u2066-\u2069\u200E\u200F\u061C]/;
const INVISIBLE = /[\u200B-\u200D\u2060\uFEFF\u00AD\u180E]/;
const TAG = /[\u{E0000}-\u{E007F}]/u;
// C0 and C1 controls except tab and newline, which text areas legitimately hold.
const CONTROL = /[\u0000-\u0008\u000B-\u001F\u007F-\u009F]/;
const HIDDEN = /[\u202A-\u202E\u2066-\u2069\u200E\u200F\u061C\u200B-\u200D\u2060\uFEFF\u00AD\u180E\u0000-\u0008\u000B-\u001F\u007F-\u009F]|[\u{E0000}-\u{E007F}]/gu;

function escapeOf(char: string): string {
  return `⟨U+${char.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}⟩`;
}

function kindOf(char: string): Flag {
  if (BIDI.test(char)) return 'bidi';
  if (TAG.test(char)) return 'tag';
  if (INVISIBLE.test(char)) return 'invisible';
  return 'control';
}

/** Splits text into visible runs and escapes of hidden characters, and flags what it found. */
export function inspect(text: string): Inspected {
  const pieces: Piece[] = [];
  const flags = new Set<Flag>();
  let last = 0;
  for (const match of text.matchAll(HIDDEN)) {
    if (match.index > last) pieces.push({ text: text.slice(last, match.index), escaped: false });
    pieces.push({ text: escapeOf(match[0]), escaped: true });
    flags.add(kindOf(match[0]));
    last = match.index + match[0].length;
  }
  if (last < text.length) pieces.push({ text: text.slice(last), escaped: false });
  if (isMixedScript(text)) flags.add('mixed-script');
  return { pieces, flags: [...flags] };
}

// Cyrillic and Greek letters that pass for Latin ones at a glance.
const LOOKALIKE = /^[аеорсухіјѕԁһԛԝаАВЕКМНОРСТХІЈЅοΑΒΕΖΗΙΚΜΝΟΡΤΥΧνρτ]+$/u;

/**
 * True when one word mixes Latin with Cyrillic or Greek ("pаypal" with a Cyrillic а), or when Latin text holds a word
 * made only of Cyrillic/Greek look-alikes. Hidden characters are ignored, so they cannot split a word to hide it.
 */
export function isMixedScript(text: string): boolean {
  const words = text.replace(HIDDEN, '').match(/[\p{L}\p{M}\p{N}]+/gu) ?? [];
  let latinWords = 0;
  let lookalikeWords = 0;
  for (const word of words) {
    const latin = /\p{Script=Latin}/u.test(word);
    const other = /[\p{Script=Cyrillic}\p{Script=Greek}]/u.test(word);
    if (latin && other) return true;
    if (latin) latinWords += 1;
    else if (other && LOOKALIKE.test(word)) lookalikeWords += 1;
  }
  return latinWords > 0 && lookalikeWords > 0;
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
  'mixed-script': 'Mixes Latin with Cyrillic or Greek letters that look alike: check the spelling carefully.',
  'not-https': 'Not an https address: the connection is not encrypted.',
  'bad-url': 'Not a valid URL.',
  'bad-amount': 'This amount could not be read as a whole number of minor units with a currency code.',
};
