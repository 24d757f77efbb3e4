import { createHash, hash } from 'node:crypto';

/**
 * The Merkle tree of RFC 6962 / RFC 9162 section 2.1, over numbers of leaves up to 2^53. A complete subtree is named
 * by its level (log2 of its leaf count; leaves are level 0) and its index at that level. Proofs read only complete
 * subtrees, which the sequencer stores once each, so a proof costs O(log n) stored hashes.
 */
export type Node = (level: number, index: number) => Buffer;

export const EMPTY_ROOT = createHash('sha256').digest();

// One-shot hashing: a Hash object per node cost as much as the hashing itself (1M-entry verification hashes 2M times).
/** SHA-256(0x00 || bytes); a string is hashed as UTF-8, where U+0000 is the single byte 0x00. */
export const hashLeaf = (bytes: string | Uint8Array): Buffer => hash('sha256', typeof bytes === 'string' ? `\0${bytes}` : Buffer.concat([Buffer.alloc(1), bytes]), 'buffer');

const pair = Buffer.alloc(65, 1);
/** SHA-256(0x01 || left || right); two 32-byte hashes go through one reused buffer (`pair[0]` stays 0x01). */
export const hashChildren = (left: Uint8Array, right: Uint8Array): Buffer =>
  hash('sha256', left.length === 32 && right.length === 32 ? (pair.set(left, 1), pair.set(right, 33), pair) : Buffer.concat([pair.subarray(0, 1), left, right]), 'buffer');

/** The largest power of two smaller than n (n >= 2): where RFC 9162 splits a range. */
function split(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** MTH(D[lo:hi]): a complete aligned subtree is read, anything else is built from its two halves. */
export function rangeHash(lo: number, hi: number, node: Node): Buffer {
  const n = hi - lo;
  if (n === 0) return EMPTY_ROOT;
  const level = Math.log2(n);
  if (Number.isInteger(level) && lo % n === 0) return node(level, lo / n);
  const k = split(n);
  return hashChildren(rangeHash(lo, lo + k, node), rangeHash(lo + k, hi, node));
}

/** PATH(m, D[0:n]) of RFC 9162 2.1.3.1, leaf to root. */
export function inclusionProof(index: number, size: number, node: Node, lo = 0): Buffer[] {
  if (size - lo <= 1) return [];
  const k = split(size - lo);
  return index < lo + k
    ? [...inclusionProof(index, lo + k, node, lo), rangeHash(lo + k, size, node)]
    : [...inclusionProof(index, size, node, lo + k), rangeHash(lo, lo + k, node)];
}

/** PROOF(m, D[0:n]) of RFC 9162 2.1.4.1: how the tree of size m is contained in the tree of size n. */
export function consistencyProof(m: number, n: number, node: Node, lo = 0, whole = true): Buffer[] {
  if (m <= 0 || m >= n) return [];
  if (lo + m === n) return whole ? [] : [rangeHash(lo, n, node)];
  const k = split(n - lo);
  return m <= k
    ? [...consistencyProof(m, lo + k, node, lo, whole), rangeHash(lo + k, n, node)]
    : [...consistencyProof(m - k, n, node, lo + k, false), rangeHash(lo, lo + k, node)];
}

const half = (x: number) => Math.floor(x / 2);
const odd = (x: number) => x % 2 === 1;

/** RFC 9162 2.1.3.2: does `proof` place `leaf` at `index` in the tree of `size` leaves with `root`? */
export function verifyInclusion(index: number, size: number, leaf: Uint8Array, proof: readonly Uint8Array[], root: Uint8Array): boolean {
  if (!Number.isSafeInteger(index) || index < 0 || index >= size) return false;
  let [fn, sn, r]: [number, number, Buffer] = [index, size - 1, Buffer.from(leaf)];
  for (const p of proof) {
    if (sn === 0) return false;
    if (odd(fn) || fn === sn) {
      r = hashChildren(p, r);
      if (!odd(fn)) while (!odd(fn) && fn !== 0) [fn, sn] = [half(fn), half(sn)];
    } else r = hashChildren(r, p);
    [fn, sn] = [half(fn), half(sn)];
  }
  return sn === 0 && r.equals(root);
}

/** RFC 9162 2.1.4.2: is the tree (m, first) a prefix of the tree (n, second)? */
export function verifyConsistency(m: number, n: number, first: Uint8Array, second: Uint8Array, proof: readonly Uint8Array[]): boolean {
  if (m === n) return proof.length === 0 && Buffer.from(first).equals(second);
  if (m === 0) return proof.length === 0;
  if (m > n || proof.length === 0) return false;
  const path = Number.isInteger(Math.log2(m)) ? [first, ...proof] : [...proof];
  let [fn, sn] = [m - 1, n - 1];
  while (odd(fn)) [fn, sn] = [half(fn), half(sn)];
  let fr: Buffer = Buffer.from(path[0]!);
  let sr = fr;
  for (const c of path.slice(1)) {
    if (sn === 0) return false;
    if (odd(fn) || fn === sn) {
      [fr, sr] = [hashChildren(c, fr), hashChildren(c, sr)];
      if (!odd(fn)) while (!odd(fn) && fn !== 0) [fn, sn] = [half(fn), half(sn)];
    } else sr = hashChildren(sr, c);
    [fn, sn] = [half(fn), half(sn)];
  }
  return sn === 0 && fr.equals(first) && sr.equals(second);
}

/**
 * The right edge of a growing tree (one complete subtree per bit of its size), so leaves stream in with O(1)
 * amortized hashing and the root of any prefix is known on the way. `onNode` sees every complete subtree formed.
 */
export class Frontier {
  size: number;
  private readonly stack: { level: number; hash: Buffer }[];

  /** Continues a tree of `size` leaves from its complete subtrees, largest first (see `frontierNodes`). */
  constructor(size = 0, hashes: readonly Buffer[] = []) {
    const levels = frontierNodes(size).map(([level]) => level);
    if (levels.length !== hashes.length) throw new Error(`a tree of ${size} leaves has ${levels.length} frontier hashes, got ${hashes.length}`);
    this.size = size;
    this.stack = hashes.map((hash, i) => ({ level: levels[i]!, hash }));
  }

  push(leaf: Buffer, onNode?: (level: number, index: number, hash: Buffer) => void): void {
    this.stack.push({ level: 0, hash: leaf });
    this.size++;
    while (this.stack.length > 1 && this.stack[this.stack.length - 1]!.level === this.stack[this.stack.length - 2]!.level) {
      const right = this.stack.pop()!;
      const left = this.stack.pop()!;
      const level = left.level + 1;
      const hash = hashChildren(left.hash, right.hash);
      this.stack.push({ level, hash });
      onNode?.(level, this.size / 2 ** level - 1, hash);
    }
  }

  root(): Buffer {
    if (this.stack.length === 0) return EMPTY_ROOT;
    return this.stack.slice(0, -1).reduceRight((right, left) => hashChildren(left.hash, right), this.stack[this.stack.length - 1]!.hash);
  }

  hashes(): Buffer[] {
    return this.stack.map((s) => s.hash);
  }
}

/** The complete subtrees [level, index] that cover the first `size` leaves, largest first. */
export function frontierNodes(size: number): [number, number][] {
  const nodes: [number, number][] = [];
  let covered = 0;
  for (let level = Math.floor(Math.log2(Math.max(size, 1))) + 1; level >= 0; level--) {
    const width = 2 ** level;
    if (covered + width <= size) {
      nodes.push([level, covered / width]);
      covered += width;
    }
  }
  return nodes;
}

/**
 * Runs a proof computation over stored nodes in two passes: the first learns which nodes it reads (which never
 * depends on their values), `fetch` reads them in one query, the second computes with them.
 */
export async function withNodes<T>(compute: (node: Node) => T, fetch: (wanted: [number, number][]) => Promise<Map<string, Buffer>>): Promise<T> {
  const wanted = new Map<string, [number, number]>();
  compute((level, index) => (wanted.set(`${level}/${index}`, [level, index]), EMPTY_ROOT));
  const found = await fetch([...wanted.values()]);
  return compute((level, index) => {
    const hash = found.get(`${level}/${index}`);
    if (!hash) throw new Error(`tree node ${level}/${index} is missing from the store`);
    return hash;
  });
}
