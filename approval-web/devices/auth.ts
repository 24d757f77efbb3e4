import type { MiddlewareHandler } from 'hono';
import { compactVerify, decodeProtectedHeader, importJWK } from 'jose';
import type { KernelClient, PairedDevice } from '../kernel-client.ts';

/**
 * Device API authentication. Every call but pairing carries `Authorization: Passport <JWS>`: a compact JWS signed by
 * the paired device's Ed25519 key (alg EdDSA), header `kid` = device id, payload `{method, path, iat, nonce}`. It is
 * fresh (iat within 60 s), names this exact call, and is used once: the nonce is remembered until it would be stale
 * anyway. The cache is per process: replicas behind a load balancer each keep their own, which bounds a replay to
 * one use per replica within the minute; pin devices to one replica (or share the cache) where that matters.
 */

export const SKEW_SECONDS = 60;
const NONCE_TTL_MS = (2 * SKEW_SECONDS + 10) * 1000;

export type DeviceEnv = { Variables: { device: PairedDevice } };

export class DeviceAuthError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

/** Nonces seen within the freshness window, oldest first. Full of live entries means a flood: refuse, never forget early. */
export class NonceCache {
  private readonly seen = new Map<string, number>();
  constructor(private readonly max = 50_000) {}

  /** True when the nonce is new (and now remembered), false when it was seen. Throws when the cache is full. */
  remember(key: string, now = Date.now()): boolean {
    for (const [k, expires] of this.seen) {
      if (expires > now) break;
      this.seen.delete(k);
    }
    if (this.seen.has(key)) return false;
    if (this.seen.size >= this.max) throw new DeviceAuthError('busy', 'Too many device calls in the last two minutes; wait a minute and try again.');
    this.seen.set(key, now + NONCE_TTL_MS);
    return true;
  }
}

function refuse(code: string, message: string): never {
  throw new DeviceAuthError(code, message);
}

/** Checks one Authorization header for `method path`; returns the device it proves, or throws DeviceAuthError. */
export async function authenticateDevice(kernel: KernelClient, nonces: NonceCache, header: string | undefined, method: string, path: string): Promise<PairedDevice> {
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
  if (!nonces.remember(`${device!.id}:${nonce as string}`)) refuse('replayed', 'This JWS (its nonce) was already used. Sign a fresh one for every call.');
  return device!;
}

/** Middleware form: sets `c.var.device`, or answers 401 (503 when the nonce cache is full) with `{error: {code, message}}`. */
export function requireDevice(kernel: KernelClient, nonces: NonceCache): MiddlewareHandler<DeviceEnv> {
  return async (c, next) => {
    try {
      c.set('device', await authenticateDevice(kernel, nonces, c.req.header('authorization'), c.req.method, new URL(c.req.url).pathname));
    } catch (error) {
      if (!(error instanceof DeviceAuthError)) throw error;
      c.header('WWW-Authenticate', 'Passport');
      return c.json({ error: { code: error.code, message: error.message } }, error.code === 'busy' ? 503 : 401);
    }
    return next();
  };
}
