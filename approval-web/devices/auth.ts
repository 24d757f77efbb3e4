import type { MiddlewareHandler } from 'hono';
import { compactVerify, decodeProtectedHeader, importJWK } from 'jose';
import { lt } from 'drizzle-orm';
import type { Db } from '../../kernel/index.ts';
import type { KernelClient, PairedDevice } from '../kernel-client.ts';
import { deviceNonces } from '../schema.ts';

/**
 * Device API authentication. Every call but pairing carries `Authorization: Passport <JWS>`: a compact JWS signed by
 * the paired device's Ed25519 key (alg EdDSA), header `kid` = device id, payload `{method, path, iat, nonce}`. It is
 * fresh (iat within 60 s), names this exact call, and is used once: the nonce is recorded in the database until it
 * would be stale anyway, so every replica sharing the database refuses a replay.
 */

export const SKEW_SECONDS = 60;
const NONCE_TTL_MS = (2 * SKEW_SECONDS + 10) * 1000;

export type DeviceEnv = { Variables: { device: PairedDevice } };

export class DeviceAuthError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

/** Where used nonces are recorded: `remember` is true when the nonce is new (and now recorded), false when seen. */
export interface NonceStore {
  remember(key: string): Promise<boolean>;
}

/** The shared store: one row per nonce, kept until it could no longer be fresh; a replay is a primary-key conflict. */
export function databaseNonces(db: Db): NonceStore {
  return {
    async remember(key) {
      const now = new Date();
      await db.delete(deviceNonces).where(lt(deviceNonces.expiresAt, now));
      const rows = await db.insert(deviceNonces).values({ key, expiresAt: new Date(now.getTime() + NONCE_TTL_MS) }).onConflictDoNothing().returning();
      return rows.length === 1;
    },
  };
}

function refuse(code: string, message: string): never {
  throw new DeviceAuthError(code, message);
}

/** Checks one Authorization header for `method path`; returns the device it proves, or throws DeviceAuthError. */
export async function authenticateDevice(kernel: KernelClient, nonces: NonceStore, header: string | undefined, method: string, path: string): Promise<PairedDevice> {
  const match = /^Passport\s+([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)$/.exec(header?.trim() ?? '');
  if (!match) refuse('unauthorized', 'Send "Authorization: Passport <JWS>": a compact JWS signed by your paired device (alg EdDSA, kid = device id) over {method, path, iat, nonce}.');
  const jws = match![1]!;
  let kid: unknown;
  try {
    const header = decodeProtectedHeader(jws);
    if (header.alg !== 'EdDSA') refuse('unauthorized', `The device JWS must use alg EdDSA (Ed25519), not ${JSON.stringify(header.alg)}.`);
    kid = header.kid;
  } catch (error) {
    if (error instanceof DeviceAuthError) throw error;
    refuse('unauthorized', 'The Authorization JWS has an unreadable header; sign a compact JWS with header {alg: "EdDSA", kid: DEVICE_ID}.');
  }
  if (typeof kid !== 'string' || !/^dev_[0-9a-f]{32}$/.test(kid)) refuse('unauthorized', 'The JWS header must name the device: kid = the deviceId you received when pairing.');
  const device = await kernel.lookupDevice(kid as string);
  if (!device) refuse('device_not_paired', `Device ${kid as string} is not paired or was removed. Pair it again with a new code ("Pair a Passport" on the devices page, or countersign device pair).`);
  const key = await importJWK(device!.publicJwk, 'EdDSA');
  const { payload } = await compactVerify(jws, key, { algorithms: ['EdDSA'] }).catch(() =>
    refuse('bad_signature', "The Authorization JWS does not verify with this device's paired key. Sign with the key you paired."),
  );
  let claims: Record<string, unknown> = {};
  try {
    claims = JSON.parse(new TextDecoder().decode(payload)) as Record<string, unknown>;
  } catch {
    refuse('unauthorized', 'The Authorization JWS payload must be the JSON object {method, path, iat, nonce}.');
  }
  if (claims.method !== method || claims.path !== path) {
    refuse('unauthorized', `This JWS was made for ${String(claims.method)} ${String(claims.path)}, not ${method} ${path}; sign each call for its own method and path.`);
  }
  const iat = claims.iat;
  if (typeof iat !== 'number' || !Number.isFinite(iat)) refuse('unauthorized', 'The payload needs iat, the signing time in seconds since 1970.');
  const skew = Math.abs(Date.now() / 1000 - (iat as number));
  if (skew > SKEW_SECONDS) refuse('stale', `The JWS was signed ${Math.round(skew)} s away from the server's clock (at most ${SKEW_SECONDS} s allowed). Sign a fresh one; check the device clock.`);
  const nonce = claims.nonce;
  if (typeof nonce !== 'string' || !/^[A-Za-z0-9_-]{16,128}$/.test(nonce)) refuse('unauthorized', 'The payload needs nonce: 16-128 random base64url characters, new for every call.');
  if (!(await nonces.remember(`${device!.id}:${nonce as string}`))) refuse('replayed', 'This JWS (its nonce) was already used. Sign a fresh one for every call.');
  return device!;
}

/** Middleware form: sets `c.var.device`, or answers 401 with `{error: {code, message}}`. */
export function requireDevice(kernel: KernelClient, nonces: NonceStore): MiddlewareHandler<DeviceEnv> {
  return async (c, next) => {
    try {
      c.set('device', await authenticateDevice(kernel, nonces, c.req.header('authorization'), c.req.method, new URL(c.req.url).pathname));
    } catch (error) {
      if (!(error instanceof DeviceAuthError)) throw error;
      c.header('WWW-Authenticate', 'Passport');
      return c.json({ error: { code: error.code, message: error.message } }, 401);
    }
    return next();
  };
}
