import { createRequire } from 'node:module';

/**
 * A corpus of hostile text for the hygiene tests (unit, the approval page in Chromium, the Passport emulator): every
 * character class DESIGN section 4 names, found by Unicode property over all code points rather than listed, each
 * look-alike family built from Unicode's confusables data (reversed: which characters of a script pass for which
 * ASCII letter), inside HTML, markdown and ANSI payloads. Deterministic, so a failure names a string that stays put.
 */

/** The characters issue 12 found raw on the approval page and the Passport. */
export const ISSUE_CHARACTERS = [0x2062, 0x2064, 0x3164, 0x115f, 0xffa0, 0x034f, 0xfe0f, 0xe0100, 0x1d173, 0x2028, 0x2029, 0x180b, 0x206a, 0xfff9, 0x17b4]
  .map((cp) => String.fromCodePoint(cp));

/** The classes that must always be escaped and flagged, by the property that defines them. */
export const HIDDEN_CLASSES: Record<string, RegExp> = {
  Default_Ignorable_Code_Point: /^\p{Default_Ignorable_Code_Point}$/u,
  Cf: /^\p{Cf}$/u,
  Zl: /^\p{Zl}$/u,
  Zp: /^\p{Zp}$/u,
  Variation_Selector: /^\p{Variation_Selector}$/u,
  tag: /^[\u{E0000}-\u{E007F}]$/u,
  // Tab and line feed are legitimate in free text and escaped in one-line values; the corpus tests both.
  Cc: /^\p{Cc}$/u,
  Bidi_Control: /^\p{Bidi_Control}$/u,
};

const members = new Map<string, string[]>();

/** Every assigned code point of a class, from the engine's Unicode tables. */
export function classMembers(name: string): string[] {
  const cached = members.get(name);
  if (cached) return cached;
  const re = HIDDEN_CLASSES[name]!;
  const found: string[] = [];
  for (let cp = 0; cp < 0x110000; cp++) {
    if (cp >= 0xd800 && cp <= 0xdfff) continue;
    const char = String.fromCodePoint(cp);
    if (re.test(char)) found.push(char);
  }
  members.set(name, found);
  return found;
}

/** Every character of every hidden class (about 4,400 on Unicode 17), for "not one gets through" checks. */
export function allHidden(): string[] {
  return [...new Set(Object.keys(HIDDEN_CLASSES).flatMap(classMembers))];
}

const PROTOTYPE = createRequire(import.meta.url)('unhomoglyph/data.json') as Record<string, string>;

/** Look-alike families: which characters stand in for an ASCII letter, by script or block. */
export const FAMILIES: Record<string, RegExp> = {
  Cyrillic: /^\p{sc=Cyrillic}$/u,
  Greek: /^\p{sc=Greek}$/u,
  Armenian: /^\p{sc=Armenian}$/u,
  Cherokee: /^\p{sc=Cherokee}$/u,
  fullwidth: /^[\uFF01-\uFF5E]$/u,
  mathematical: /^[\u{1D400}-\u{1D7FF}]$/u,
  'Latin look-alikes': /^(?![\x00-\x7f])\p{sc=Latin}$/u,
};

const lookalikeMaps = new Map<string, Map<string, string[]>>();

/** For one family: ASCII letter -> the family's characters whose UTS #39 prototype is that letter. */
export function lookalikesOf(family: string): Map<string, string[]> {
  const cached = lookalikeMaps.get(family);
  if (cached) return cached;
  const re = FAMILIES[family]!;
  const map = new Map<string, string[]>();
  for (const [source, prototype] of Object.entries(PROTOTYPE)) {
    if (!/^[A-Za-z]$/.test(prototype) || !re.test(source)) continue;
    map.set(prototype, [...(map.get(prototype) ?? []), source]);
  }
  lookalikeMaps.set(family, map);
  return map;
}

/** `word` written with the family's look-alikes: every letter that has one (`all`), or just the first that does. */
export function disguise(word: string, family: string, all: boolean, pick = 0): string | null {
  const map = lookalikesOf(family);
  let replaced = 0;
  let out = '';
  for (const char of word) {
    const options = map.get(char) ?? map.get(char.toUpperCase()) ?? map.get(char.toLowerCase());
    if (options && (all || replaced === 0)) {
      out += options[pick % options.length];
      replaced += 1;
    } else out += char;
  }
  return replaced > 0 ? out : null;
}

export interface HostileString {
  text: string;
  /** What it tests, for failure messages. */
  note: string;
  /** Hidden characters inside it, each of which must be shown escaped, never raw. */
  hidden: string[];
  /** Whether a look-alike flag (mixed-script or confusable) is required. */
  lookalike: boolean;
}

const WORDS = ['paypal', 'google', 'github', 'stripe', 'approve', 'refund', 'admin', 'microsoft', 'apple', 'invoice'];
const PAYLOADS = [
  (x: string) => `<script>window.__pwned=1</script>${x}`,
  (x: string) => `<img src=x onerror="window.__pwned=1">${x}`,
  (x: string) => `**${x}** [click](javascript:alert(1)) ![p](https://evil.example/p.png)`,
  (x: string) => `\u001b[31m${x}\u001b[0m`,
  (x: string) => `Fix typo in README' of acme/docs ${x} (sandbox copy, no notifications are sent)`,
  (x: string) => `${x}`,
  (x: string) => `a & b < c > d "${x}" 'e' \`f\``,
];

/** A small deterministic generator (mulberry32), so the corpus is the same on every run. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a |= 0;
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const hiddenOf = (text: string) => [...text].filter((c) => allHiddenSet().has(c) && c !== '\n' && c !== '\t');
let hiddenSet: Set<string> | null = null;
const allHiddenSet = () => (hiddenSet ??= new Set(allHidden()));

/**
 * `size` hostile strings: each issue character and a sweep over every hidden class (every member when the class is
 * small, spread samples when it is large) inside words and payloads; each look-alike family disguising whole words
 * and single letters; then random mixtures of both, up to `size`.
 */
export function hostileCorpus(size = 10_000): HostileString[] {
  const out: HostileString[] = [];
  const rnd = random(12);
  const pick = <T>(items: T[]): T => items[Math.floor(rnd() * items.length)]!;
  const add = (text: string, note: string, lookalike: boolean) => out.push({ text, note, hidden: hiddenOf(text), lookalike });

  for (const char of ISSUE_CHARACTERS) {
    const name = `U+${char.codePointAt(0)!.toString(16).toUpperCase()}`;
    add(`pay${char}pal`, `${name} inside a word`, false);
    add(`${char}approve`, `${name} leading`, false);
    for (const payload of PAYLOADS) add(payload(`inv${char}oice`), `${name} in a payload`, false);
  }
  // U+0000 is left out: PostgreSQL's jsonb cannot store it, so it never reaches a screen (the unit tests cover it).
  const shown = (c: string) => c !== '\n' && c !== '\t' && c !== '\u0000';
  for (const name of Object.keys(HIDDEN_CLASSES)) {
    const all = classMembers(name).filter(shown);
    const step = Math.max(1, Math.floor(all.length / 400));
    for (let i = 0; i < all.length; i += step) add(`${pick(WORDS)}${all[i]}${pick(WORDS)}`, `${name} U+${all[i]!.codePointAt(0)!.toString(16)}`, false);
  }
  for (const family of Object.keys(FAMILIES)) {
    for (const word of WORDS) {
      for (let variant = 0; variant < 3; variant++) {
        const whole = disguise(family === 'Cherokee' ? word.toUpperCase() : word, family, true, variant);
        if (whole) add(whole, `${family} ${word} (every letter)`, true);
        const one = disguise(word, family, false, variant);
        if (one) add(`${one} ${pick(WORDS)}`, `${family} ${word} (one letter)`, true);
      }
    }
  }
  const hiddenPool = allHidden().filter(shown);
  const families = Object.keys(FAMILIES);
  while (out.length < size) {
    const payload = pick(PAYLOADS);
    if (rnd() < 0.5) {
      const char = rnd() < 0.3 ? pick(ISSUE_CHARACTERS) : pick(hiddenPool);
      const word = pick(WORDS);
      const at = 1 + Math.floor(rnd() * (word.length - 1));
      add(payload(word.slice(0, at) + char + word.slice(at)), `random hidden U+${char.codePointAt(0)!.toString(16)}`, false);
    } else {
      const family = pick(families);
      const disguised = disguise(pick(WORDS), family, rnd() < 0.5, Math.floor(rnd() * 5));
      if (disguised) add(payload(disguised), `random ${family}`, true);
    }
  }
  return out.slice(0, size);
}

/** Turns `⟨U+XXXX⟩` escapes back into their characters: what was shown, read back, must be the original. */
export const unescapeShown = (text: string) => text.replace(/⟨U\+([0-9A-F]{4,6})⟩/g, (_, hex: string) => String.fromCodePoint(parseInt(hex, 16)));
