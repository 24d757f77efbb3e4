import { KeyObject, createHash, randomUUID, sign, verify } from 'node:crypto';
import { and, eq, gt, isNull, sql, type SQL } from 'drizzle-orm';
import { decodeJwt, decodeProtectedHeader, type JWK, type JWTPayload, type ProtectedHeaderParameters } from 'jose';
import type { Db } from './store/db.ts';
import { grants } from './store/schema.ts';
import { KernelError } from './errors.ts';
import { checkDigest } from './evidence.ts';
import { rowsOf } from './audit/store.ts';

/** The kernel's Ed25519 signing key: it signs grants and audit checkpoints. `kid` is the RFC 7638 JWK thumbprint. */
export interface KernelKeys {
  kid: string;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  /** The public half as a JWK (with kid, alg, use), for executors and offline verifiers. */
  publicJwk: JWK;
}

const ISSUER = 'countersign-kernel';
const AUDIENCE = 'countersign-executor';
const TYP = 'countersign-grant+jwt';
const MAX_TTL_SECONDS = 3600;
const REQUIRED_CLAIMS = ['jti', 'exp', 'sub', 'digest', 'tool'];

export interface MintedGrant {
  jwt: string;
  jti: string;
  expiresAt: Date;
}

/**
 * Signs a single-use grant: permission to execute exactly one request, once, before `exp`. Its claims are iss, aud, jti,
 * sub (the request id), digest, tool, iat and exp. Record it with recordGrant in the transaction that moves the request to
 * `executing`, so a grant exists in the database exactly when one was handed out.
 * @example const grant = await mintGrant(keys, { requestId, digest, tool: 'stripe_create_refund' });
 */
export async function mintGrant(
  keys: KernelKeys,
  input: { requestId: string; digest: string; tool: string; ttlSeconds?: number; now?: Date },
): Promise<MintedGrant> {
  const ttl = input.ttlSeconds ?? 60;
  if (!Number.isInteger(ttl) || ttl < 1 || ttl > MAX_TTL_SECONDS) throw new KernelError('bad_request', `a grant lives 1 to ${MAX_TTL_SECONDS} seconds (whole seconds), got ${String(ttl)}`);
  checkDigest(input.digest);
  if (!input.requestId || !input.tool) throw new KernelError('bad_request', 'a grant needs the request id and the tool name');
  const iat = Math.floor((input.now ?? new Date()).getTime() / 1000);
  const claims = { digest: input.digest, tool: input.tool, iss: ISSUER, aud: AUDIENCE, sub: input.requestId, jti: randomUUID(), iat, exp: iat + ttl };
  const signed = `${part({ alg: 'EdDSA', typ: TYP, kid: keys.kid })}.${part(claims)}`;
  const jwt = `${signed}.${sign(null, Buffer.from(signed), KeyObject.from(keys.privateKey)).toString('base64url')}`;
  return { jwt, jti: claims.jti, expiresAt: new Date(claims.exp * 1000) };
}

/**
 * Checks a grant against the request an executor was given: kernel signature (EdDSA only), issuer, audience, expiry,
 * digest and tool. This proves the grant is genuine; consumeGrant then makes sure it is used once.
 * Throws KernelError 'grant_invalid', 'grant_expired' or 'digest_mismatch'.
 */
export async function verifyGrant(
  publicKey: CryptoKey,
  jwt: string,
  expected: { digest: string; tool: string; now?: Date },
): Promise<{ jti: string; requestId: string; expiresAt: Date }> {
  let header: ProtectedHeaderParameters, claims: JWTPayload;
  try {
    [header, claims] = [decodeProtectedHeader(jwt), decodeJwt(jwt)];
  } catch (error) {
    throw new KernelError('grant_invalid', `the grant cannot be read as a compact JWS (three base64url parts; executions need the grant the kernel minted): ${(error as Error).message}`);
  }
  const parts = jwt.split('.');
  if (header.alg !== 'EdDSA') throw new KernelError('grant_invalid', 'the grant is not signed with EdDSA; only kernel-signed grants are accepted');
  if (!verify(null, Buffer.from(`${parts[0]}.${parts[1]}`), KeyObject.from(publicKey), Buffer.from(parts[2]!, 'base64url'))) throw new KernelError('grant_invalid', "the grant's signature does not verify with the kernel key: it is forged, altered or from another kernel");
  // After the signature: what the kernel signed for something else (another typ, issuer or audience) is no grant.
  const missing = REQUIRED_CLAIMS.find((claim) => claims[claim] === undefined);
  const wrong = header.typ !== TYP ? '"typ" header' : claims.iss !== ISSUER ? '"iss" claim' : claims.aud !== AUDIENCE ? '"aud" claim' : null;
  if (wrong || missing || typeof claims.exp !== 'number') throw new KernelError('grant_invalid', `the grant is not a Countersign grant: ${wrong ? `unexpected ${wrong}` : missing ? `missing required "${missing}" claim` : '"exp" is not a number'}`);
  if (claims.exp <= Math.floor((expected.now ?? new Date()).getTime() / 1000)) throw new KernelError('grant_expired', 'the grant has expired; the kernel must mint a new one for this request');
  if (claims.digest !== expected.digest) throw new KernelError('digest_mismatch', 'the grant was issued for another request (its digest differs from the request being executed); nothing was executed');
  if (claims.tool !== expected.tool) throw new KernelError('grant_invalid', `the grant is for tool ${JSON.stringify(claims.tool)}, not ${JSON.stringify(expected.tool)}; nothing was executed`);
  return { jti: String(claims.jti), requestId: String(claims.sub), expiresAt: new Date(claims.exp * 1000) };
}

/** A JWS part (RFC 7515): the base64url of a JSON object. */
const part = (value: object): string => Buffer.from(JSON.stringify(value)).toString('base64url');

/** Stores a minted grant; pass the transaction that moves the request to `executing`. */
export const recordGrant = (tx: Db, grant: { jti: string; requestId: string; digest: string; expiresAt: Date }) => tx.insert(grants).values(grant);

/**
 * Marks a grant consumed, atomically: of any number of concurrent calls for one grant, exactly one returns. The others,
 * and any later call, throw 'grant_consumed'; also 'grant_expired', 'digest_mismatch' or 'grant_invalid' (unknown jti).
 * `audited` (the audit log's `queued` insert) commits in the same statement, only when this call took the grant.
 */
export async function consumeGrant(db: Db, { jti, digest }: { jti: string; digest: string }, audited?: SQL): Promise<void> {
  // One conditional UPDATE is the atomic step: concurrent callers race for the row and only one finds it unconsumed.
  const usable = and(eq(grants.jti, jti), eq(grants.digest, digest), isNull(grants.consumedAt), gt(grants.expiresAt, sql`now()`));
  const take = db.update(grants).set({ consumedAt: sql`now()` }).where(usable).returning({ jti: grants.jti }).getSQL();
  const audit = audited ? sql`, q as (${audited} where exists (select 1 from g))` : sql``;
  if (rowsOf(await db.execute(sql`with g as (${take})${audit} select jti from g`)).length === 1) return;
  // Find out why, on the database clock the update used.
  const expired = sql<boolean>`${grants.expiresAt} <= now()`;
  const [row] = await db.select({ digest: grants.digest, consumedAt: grants.consumedAt, expired }).from(grants).where(eq(grants.jti, jti));
  if (!row) throw new KernelError('grant_invalid', `no grant ${jti} was issued by this kernel; nothing was executed`);
  if (row.digest !== digest) throw new KernelError('digest_mismatch', `grant ${jti} was issued for another request; nothing was executed`);
  if (row.consumedAt) throw new KernelError('grant_consumed', `grant ${jti} was already used at ${row.consumedAt.toISOString()}; a request executes at most once`);
  if (row.expired) throw new KernelError('grant_expired', `grant ${jti} expired before it was used; the kernel must mint a new one`);
  throw new KernelError('grant_consumed', `grant ${jti} was used concurrently by another execution`);
}

/**
 * The marker a write leaves upstream so a later reconcile can recognise it (an HTML comment in an issue body): derived
 * from the request id with the kernel's key (an Ed25519 signature is deterministic), so an agent that can write text
 * upstream still cannot make another request look executed. Every replica sharing the kernel key derives the same one.
 */
export async function requestMarker(keys: KernelKeys, requestId: string): Promise<string> {
  const signed = sign(null, Buffer.from(`countersign/marker/v1\0${requestId}`), KeyObject.from(keys.privateKey));
  return `cs1-${createHash('sha256').update(signed).digest('base64url').slice(0, 32)}`;
}
