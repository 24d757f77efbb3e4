import data from 'unhomoglyph/data.json' with { type: 'json' };

/**
 * UTS #39 section 4 skeletons, from Unicode's own confusables.txt mapping (the `unhomoglyph` package ships it as
 * data, source character to prototype; see its CHANGELOG for the Unicode version). A word whose skeleton is plain
 * ASCII while the word itself is not, "ｐａｙｐａｌ", "𝐩𝐚𝐲𝐩𝐚𝐥", "ᏢᎪᎽᏢᎪᏞ", "gօօgle", is dressed up as an ASCII word.
 */

const PROTOTYPE: Record<string, string> = data;
const IGNORABLE = /\p{Default_Ignorable_Code_Point}/gu;

/** skeleton(X) = NFD(prototypes of each character of NFD(X) without default ignorables). */
export function skeleton(text: string): string {
  let mapped = '';
  for (const char of text.normalize('NFD').replace(IGNORABLE, '')) mapped += PROTOTYPE[char] ?? char;
  return mapped.normalize('NFD');
}

/** True when `word` is not ASCII but its skeleton is ASCII letters and digits: it imitates an ASCII word. */
export function imitatesAscii(word: string): boolean {
  return /[^\x00-\x7f]/.test(word) && /^[A-Za-z0-9]+$/.test(skeleton(word));
}
