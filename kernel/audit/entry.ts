import type { Json } from '../types.ts';
import { jcs, sha256Hex } from '../digest.ts';
import { KernelError } from '../errors.ts';

/** The previous hash of the first entry: 64 zeros. */
export const GENESIS_HASH = '0'.repeat(64);

/** What a caller appends; the log stamps `seq`, `at`, `prevHash` and `hash`. */
export interface AuditInput {
  /** What happened, dotted: 'request.received', 'policy.decided', 'grant.minted'... */
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

/** A signed statement "the chain had hash `hash` at `seq`"; `signature` is a compact JWS over JCS({seq, hash, at}). */
export interface AuditCheckpoint {
  seq: number;
  hash: string;
  at: string;
  signature: string;
}

/** An input checked, with its data canonicalized once (`dataJcs`), so a bad entry fails its own caller, not a batch. */
export interface PreparedInput {
  kind: string;
  requestId: string | null;
  actor: string;
  data: Json;
  dataJcs: string;
}

const KIND = /^[a-z][a-z0-9_-]*(\.[a-z0-9_-]+)*$/;
// A NUL (which PostgreSQL text and jsonb cannot hold) shows up in JSON as `\u0000` after an even number of backslashes.
const NUL = /(?:^|[^\\])(?:\\\\)*\\u0000/;

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
    // The database would replace lone surrogates, and the stored entry would then no longer match its hash.
    jcs([input.actor, requestId]);
  } catch (error) {
    throw new KernelError('bad_request', `${where}: not plain JSON (${(error as Error).message}); pass plain JSON values and well-formed strings`);
  }
  if (NUL.test(dataJcs) || input.kind.includes('\0') || input.actor.includes('\0') || requestId?.includes('\0')) {
    throw new KernelError('bad_request', `${where}: contains a NUL character, which the database cannot store; escape or remove it`);
  }
  return { kind: input.kind, requestId, actor: input.actor, data, dataJcs };
}

/** JCS({seq, at, kind, requestId, actor, data}) from parts, keys in RFC 8785 order; a unit test holds it equal to `jcs`. */
export function entryJcs(seq: number, at: string, kind: string, requestId: string | null, actor: string, dataJcs: string): string {
  const id = requestId === null ? 'null' : JSON.stringify(requestId);
  return `{"actor":${JSON.stringify(actor)},"at":${JSON.stringify(at)},"data":${dataJcs},"kind":${JSON.stringify(kind)},"requestId":${id},"seq":${seq}}`;
}

/** hash_n = sha256(hash_{n-1} as its 64 hex characters || JCS(entry_n)), hex. */
export const chainHash = (prevHash: string, canonicalEntry: string): string => sha256Hex(prevHash, canonicalEntry);

/** The hash an entry should carry given its content and its `prevHash`. */
export function computeEntryHash(entry: Omit<AuditEntry, 'hash'>): string {
  return chainHash(entry.prevHash, entryJcs(entry.seq, entry.at, entry.kind, entry.requestId, entry.actor, jcs(entry.data)));
}

/** The bytes a checkpoint signs: JCS({seq, hash, at}). */
export const checkpointPayload = (seq: number, hash: string, at: string): Uint8Array => new TextEncoder().encode(jcs({ seq, hash, at }));
