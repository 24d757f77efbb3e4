/**
 * Mixed-script detection after UTS #39 section 5.1: a word's resolved script set is the intersection of its
 * characters' Script_Extensions (Common and Inherited count as every script), augmented so Han goes with Japanese,
 * Korean and Bopomofo writing. An empty set means the word mixes scripts no language writes together, as "gօօgle"
 * (Latin with Armenian օ) does.
 */

/**
 * The Script property values (ISO 15924 codes) Unicode 17 defines, except Common, Inherited and Unknown. A code the
 * running engine does not know is skipped, and a letter in none of them counts as a script of its own, so an older
 * engine flags more, never less. `test/unit/hygiene.test.ts` checks that every letter of this engine has a script.
 */
const SCRIPT_CODES = [
  'Adlm', 'Aghb', 'Ahom', 'Arab', 'Armi', 'Armn', 'Avst', 'Bali', 'Bamu', 'Bass', 'Batk', 'Beng', 'Berf', 'Bhks', 'Bopo', 'Brah', 'Brai', 'Bugi',
  'Buhd', 'Cakm', 'Cans', 'Cari', 'Cham', 'Cher', 'Chrs', 'Copt', 'Cpmn', 'Cprt', 'Cyrl', 'Deva', 'Diak', 'Dogr', 'Dsrt', 'Dupl', 'Egyp', 'Elba',
  'Elym', 'Ethi', 'Gara', 'Geor', 'Glag', 'Gong', 'Gonm', 'Goth', 'Gran', 'Grek', 'Gujr', 'Gukh', 'Guru', 'Hang', 'Hani', 'Hano', 'Hatr', 'Hebr',
  'Hira', 'Hluw', 'Hmng', 'Hmnp', 'Hung', 'Ital', 'Java', 'Kali', 'Kana', 'Kawi', 'Khar', 'Khmr', 'Khoj', 'Kits', 'Knda', 'Krai', 'Kthi', 'Lana',
  'Laoo', 'Latn', 'Lepc', 'Limb', 'Lina', 'Linb', 'Lisu', 'Lyci', 'Lydi', 'Mahj', 'Maka', 'Mand', 'Mani', 'Marc', 'Medf', 'Mend', 'Merc', 'Mero',
  'Mlym', 'Modi', 'Mong', 'Mroo', 'Mtei', 'Mult', 'Mymr', 'Nagm', 'Nand', 'Narb', 'Nbat', 'Newa', 'Nkoo', 'Nshu', 'Ogam', 'Olck', 'Onao', 'Orkh',
  'Orya', 'Osge', 'Osma', 'Ougr', 'Palm', 'Pauc', 'Perm', 'Phag', 'Phli', 'Phlp', 'Phnx', 'Plrd', 'Prti', 'Rjng', 'Rohg', 'Runr', 'Samr', 'Sarb',
  'Saur', 'Sgnw', 'Shaw', 'Shrd', 'Sidd', 'Sidt', 'Sind', 'Sinh', 'Sogd', 'Sogo', 'Sora', 'Soyo', 'Sund', 'Sunu', 'Sylo', 'Syrc', 'Tagb', 'Takr',
  'Tale', 'Talu', 'Taml', 'Tang', 'Tavt', 'Tayo', 'Telu', 'Tfng', 'Tglg', 'Thaa', 'Thai', 'Tibt', 'Tirh', 'Tnsa', 'Todr', 'Tols', 'Toto', 'Tutg',
  'Ugar', 'Vaii', 'Vith', 'Wara', 'Wcho', 'Xpeo', 'Xsux', 'Yezi', 'Yiii', 'Zanb',
];

function compile(code: string, property: 'scx' | 'sc'): [string, RegExp][] {
  try {
    return [[code, new RegExp(`^\\p{${property}=${code}}$`, 'u')]];
  } catch {
    return []; // a script newer than this engine's Unicode tables
  }
}

const EXTENSIONS = SCRIPT_CODES.flatMap((code) => compile(code, 'scx'));
/** The codes this engine knows, for the completeness test. */
export const KNOWN_SCRIPTS = SCRIPT_CODES.flatMap((code) => compile(code, 'sc'));

const ANY = /^[\p{sc=Zyyy}\p{sc=Zinh}]$/u;
const AUGMENT: Record<string, string[]> = { Hani: ['Hanb', 'Jpan', 'Kore'], Hira: ['Jpan'], Kana: ['Jpan'], Hang: ['Kore'], Bopo: ['Hanb'] };
const cache = new Map<number, Set<string> | null>();

/** A character's augmented Script_Extensions, or null for Common/Inherited (compatible with every script). */
export function scriptsOf(char: string): Set<string> | null {
  const point = char.codePointAt(0)!;
  if (point < 0x80) return /[A-Za-z]/.test(char) ? new Set(['Latn']) : null;
  const cached = cache.get(point);
  if (cached !== undefined) return cached;
  // Script_Extensions first: Common characters used by a few scripts only (U+0640 ARABIC TATWEEL) name them there.
  const codes = EXTENSIONS.filter(([, re]) => re.test(char)).map(([code]) => code);
  let scripts: Set<string> | null = null;
  if (codes.length) scripts = new Set(codes.flatMap((c) => [c, ...(AUGMENT[c] ?? [])]));
  else if (!ANY.test(char)) scripts = new Set([`U+${point.toString(16)}`]);
  cache.set(point, scripts);
  return scripts;
}

/** The resolved script set of a word: empty when it mixes scripts; null when it has only Common/Inherited characters. */
export function resolvedScripts(word: string, skip?: RegExp): Set<string> | null {
  let resolved = null as Set<string> | null;
  for (const char of word) {
    if (skip?.test(char)) continue;
    const scripts = scriptsOf(char);
    if (scripts === null) continue;
    resolved = resolved === null ? new Set(scripts) : new Set([...resolved].filter((s) => scripts.has(s)));
    if (resolved.size === 0) return resolved;
  }
  return resolved;
}

const CJK = ['Jpan', 'Kore', 'Hanb'];
const LATIN = /^\p{scx=Latn}$/u;

/**
 * True when a word mixes scripts beyond UTS #39's Highly Restrictive level: one script, or Latin with Han and kana
 * (Japanese), Han and Hangul (Korean) or Han and Bopomofo, is fine; "gօօgle" or "pаypal" (Cyrillic а) is not.
 */
export function mixesScripts(word: string): boolean {
  const resolved = resolvedScripts(word);
  if (resolved === null || resolved.size > 0) return false;
  const withoutLatin = resolvedScripts(word, LATIN);
  return !(withoutLatin !== null && CJK.some((s) => withoutLatin.has(s)));
}
