import { KeyObject, createHash, createPublicKey, sign, verify } from 'node:crypto';
import type { JsonObject } from '../types.ts';
import { KernelError } from '../errors.ts';

/**
 * Signed notes (C2SP signed-note) with Ed25519, and the checkpoints of C2SP tlog-checkpoint written in them:
 *
 *   <origin>\n<tree size>\n<root hash, base64>\n\n— <key name> base64(key hash[4] || signature[64])\n
 *
 * key hash = SHA-256(name || "\n" || 0x01 || public key)[:4]; a verifier key is "name+hash(8 hex)+base64(0x01 || key)",
 * as Go's golang.org/x/mod/sumdb/note prints it, so standard tooling reads our checkpoints.
 */
export interface NoteSigner {
  /** The key name, which is also the log's origin line. */
  name: string;
  /** The verifier key: everything an auditor needs to check a note, nothing secret. */
  verifierKey: string;
  /** Signs `text` (lines ending in "\n") and returns the whole note. */
  sign(text: string): string;
}

export interface Checkpoint {
  origin: string;
  size: number;
  root: Buffer;
  /** The whole signed note, as served and witnessed. */
  note: string;
}

const keyHash = (name: string, raw: Buffer) => createHash('sha256').update(`${name}\n`).update(Buffer.from([1])).update(raw).digest().subarray(0, 4);

/** A NoteSigner over the kernel's Ed25519 key; `name` must be a word without spaces or "+". */
export function createNoteSigner(name: string, privateKey: CryptoKey | KeyObject, publicJwk: JsonObject): NoteSigner {
  if (!/^[^\s+]+$/.test(name)) throw new KernelError('config_error', `a log origin is one word without spaces or "+", got ${JSON.stringify(name)}`);
  const verifierKey = verifierKeyOf(name, publicJwk);
  const key = privateKey instanceof KeyObject ? privateKey : KeyObject.from(privateKey);
  const hash = Buffer.from(verifierKey.split('+')[1]!, 'hex');
  return { name, verifierKey, sign: (text) => `${text}\n\u2014 ${name} ${Buffer.concat([hash, sign(null, Buffer.from(text), key)]).toString('base64')}\n` };
}

/** The verifier key "name+hash+base64(0x01 || key)" of an Ed25519 public JWK. */
export function verifierKeyOf(name: string, publicJwk: JsonObject): string {
  if (publicJwk.crv !== 'Ed25519' || typeof publicJwk.x !== 'string') throw new KernelError('config_error', 'the audit log signs with an Ed25519 key');
  const raw = Buffer.from(publicJwk.x, 'base64url');
  return `${name}+${keyHash(name, raw).toString('hex')}+${Buffer.concat([Buffer.from([1]), raw]).toString('base64')}`;
}

/** A note's text if one of its signatures verifies with `verifierKey`, else why not. */
export function openNote(note: string, verifierKey: string): { text: string } | { error: string } {
  // name+hash+key, where the base64 key may itself contain "+".
  const [name, hashHex, keyB64] = [...verifierKey.split('+', 2), verifierKey.split('+').slice(2).join('+')];
  const raw = Buffer.from(keyB64 ?? '', 'base64');
  if (!name || !hashHex || raw.length !== 33 || raw[0] !== 1 || keyHash(name, raw.subarray(1)).toString('hex') !== hashHex) return { error: `not an Ed25519 verifier key "name+hash+key": ${verifierKey.slice(0, 80)}` };
  const cut = note.lastIndexOf('\n\n');
  if (cut < 0 || !note.endsWith('\n')) return { error: 'not a signed note: expected text, a blank line and signature lines' };
  const text = note.slice(0, cut + 1);
  const publicKey = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: raw.subarray(1).toString('base64url') }, format: 'jwk' });
  for (const line of note.slice(cut + 2, -1).split('\n')) {
    const [dash, signer, b64] = line.split(' ');
    const sig = Buffer.from(b64 ?? '', 'base64');
    if (dash !== '\u2014' || signer !== name || sig.length !== 68 || sig.subarray(0, 4).toString('hex') !== hashHex) continue;
    if (verify(null, Buffer.from(text), publicKey, sig.subarray(4))) return { text };
    return { error: `the signature by ${name} does not verify: the note was changed after signing` };
  }
  return { error: `the note carries no signature by ${name} (key ${hashHex})` };
}

/** Reads a tlog-checkpoint note signed by `verifierKey`; its origin must be the key's name. */
export function openCheckpoint(note: string, verifierKey: string): Checkpoint | { error: string } {
  const opened = openNote(note, verifierKey);
  if ('error' in opened) return opened;
  const [origin, size, root] = opened.text.split('\n');
  const hash = Buffer.from(root ?? '', 'base64');
  if (origin !== verifierKey.split('+')[0] || !/^(0|[1-9]\d{0,15})$/.test(size ?? '') || hash.length !== 32 || hash.toString('base64') !== root) return { error: `not a checkpoint of log ${verifierKey.split('+')[0]}: expected origin, tree size and base64 root hash lines` };
  return { origin, size: Number(size), root: hash, note };
}

/** The text a checkpoint note signs. */
export const checkpointText = (origin: string, size: number, root: Buffer): string => `${origin}\n${size}\n${root.toString('base64')}\n`;
