/**
 * A request's digest as people compare it between two screens (the approval page and a Passport): the first 80 bits
 * in five groups of four hex digits, "3F2A 9C01 77BE 42D0 AA11". Short enough to read aloud, long enough that two
 * different requests do not share one by chance. Both screens call this one function, so they cannot drift apart.
 * @example fingerprint('3f2a9c0177be42d0aa11...') // "3F2A 9C01 77BE 42D0 AA11"
 */
export function fingerprint(digest: string): string {
  const hex = /^[0-9a-f]{64}$/i.test(digest) ? digest.slice(0, 20).toUpperCase() : '';
  if (!hex) return '(not a request digest)';
  return hex.match(/.{4}/g)!.join(' ');
}
