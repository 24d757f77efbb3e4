import type { Json } from '../types.ts';
import { jcs, sha256Hex } from '../digest.ts';
import { KernelError } from '../errors.ts';

/** The previous hash of the first entry: 64 zeros. */
export const GENESIS_HASH = '0'.repeat(64);

/** What a caller appends. The log stamps `seq`, `at`, `prevHash` and `hash`. */
export interface AuditInput {
  /** What happened, dotted: 'request.received', 'policy.decided', 'approval.decided', 'grant.minted'... */
  kind: string;
  requestId?: string | null;
  /** Who: 'agent:<id>', 'approver:<id>', 'kernel', 'connector.github'... */
  actor: string;
  data?: Json;
}

/** One link of the chain, as stored and exported. */
export interface AuditEntry {
  seq: number;
  at: string;
  kind: string;
  requestId: string | null;
  actor: string;
  data: Json;
  prevHash: string;
  hash: string;
}

/** A signed statement "the chain had hash `hash` at `seq`", as stored and exported. */
export interface AuditCheckpoint {
  seq: number;
  hash: string;
  at: string;
  /** Compact JWS over JCS({seq, hash, at}). */
  signature: string;
}

const KIND = /^[a-z][a-z0-9_-]*(\.[a-z0-9_-]+)*$/;
// A NUL (which PostgreSQL text and jsonb cannot hold) shows up in JSON as an unescaped `\u0000`:
// one preceded by an even number of backslashes.
const NUL = /(?:^|[^\\])(?:\\\\)*\\u0000/;

/** An input checked and pre-canonicalized, so a bad entry fails its own caller before it joins a batch. */
export interface PreparedInput {
  kind: string;
  requestId: string | null;
  actor: string;
  data: Json;
  /** JCS of `data`, computed once. */
  dataJcs: string;
}

/** Checks one input and canonicalizes its data; throws `bad_request` naming what is wrong. */
export function prepareInput(input: AuditInput, index = 0): PreparedInput {
  const where = `audit entry #${index}`;
  if (typeof input !== 'object' || input === null) throw new KernelError('bad_request', `${where} must be an object {kind, actor, requestId?, data?}`);
  if (typeof input.kind !== 'string' || !KIND.test(input.kind) || input.kind.length > 100) {
    throw new KernelError('bad_request', `${where}: kind ${JSON.stringify(input.kind)} must be dotted lowercase words like 'request.received'`);
  }
  if (typeof input.actor !== 'string' || input.actor.length === 0 || input.actor.length > 300) {
    throw new KernelError('bad_request', `${where}: actor must be a non-empty string like 'agent:<id>' or 'kernel'`);
  }
  const requestId = input.requestId ?? null;
  if (requestId !== null && (typeof requestId !== 'string' || requestId.length === 0)) {
    throw new KernelError('bad_request', `${where}: requestId must be a non-empty string or null`);
  }
  const data = input.data === undefined ? {} : input.data;
  let dataJcs: string;
  try {
    dataJcs = jcs(data);
    // Lone surrogates would be replaced on the way into the database and break the hash: refuse them here.
    jcs([input.actor, requestId]);
  } catch (error) {
    throw new KernelError('bad_request', `${where}: not plain JSON (${(error as Error).message}); pass plain JSON values and well-formed strings`);
  }
  if (NUL.test(dataJcs) || input.kind.includes('\0') || input.actor.includes('\0') || requestId?.includes('\0')) {
    throw new KernelError('bad_request', `${where}: contains a NUL character, which the database cannot store; escape or remove it`);
  }
  return { kind: input.kind, requestId, actor: input.actor, data, dataJcs };
}

/**
 * JCS({seq, at, kind, requestId, actor, data}) built from parts: keys in RFC 8785 order (actor, at, data, kind,
 * requestId, seq), so the data's canonical form is computed once per entry. A unit test holds it equal to `jcs`.
 */
export function entryJcs(seq: number, at: string, kind: string, requestId: string | null, actor: string, dataJcs: string): string {
  return (
    `{"actor":${JSON.stringify(actor)},"at":${JSON.stringify(at)},"data":${dataJcs},"kind":${JSON.stringify(kind)},` +
    `"requestId":${requestId === null ? 'null' : JSON.stringify(requestId)},"seq":${seq}}`
  );
}

/** hash_n = sha256(hash_{n-1} as its 64 hex characters || JCS(entry_n)), hex. */
export function chainHash(prevHash: string, canonicalEntry: string): string {
  return sha256Hex(prevHash, canonicalEntry);
}

/** The hash an entry should carry given its content and its `prevHash`. */
export function computeEntryHash(entry: Omit<AuditEntry, 'hash'>): string {
  return chainHash(entry.prevHash, entryJcs(entry.seq, entry.at, entry.kind, entry.requestId, entry.actor, jcs(entry.data)));
}

/** The bytes a checkpoint signs: JCS({seq, hash, at}). */
export function checkpointPayload(seq: number, hash: string, at: string): Uint8Array {
  return new TextEncoder().encode(jcs({ seq, hash, at }));
}
