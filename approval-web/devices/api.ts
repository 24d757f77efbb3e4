import { Hono, type Context } from 'hono';
import { z } from 'zod';
import { KernelError, type JsonObject, type RequestView } from '../../kernel/index.ts';
import type { WebDeps } from '../context.ts';
import { readJson, type BodyWords } from '../routes/body.ts';
import type { Reporter } from '../security.ts';
import { approvalsCount } from '../views/intent.tsx';
import { outcomeMessage } from '../views/decision.tsx';
import { requireDevice, type DeviceEnv } from './auth.ts';

/**
 * The JSON API paired Passports use, under /api/v1/devices/ (DESIGN section 7). Devices are not browsers: no cookies,
 * no CSRF token; pairing is proved by a one-time code, every later call by a fresh signature of the device's key
 * (auth.ts), and every decision by the device's signature over the approval signing bytes, which the kernel verifies.
 * Errors are `{error: {code, message}}`.
 */

type Status = 400 | 401 | 403 | 404 | 409 | 410 | 500;
const fail = (c: Context, status: Status, code: string, message: string) => c.json({ error: { code, message } }, status);

const pairBody = z.object({
  code: z.string().min(1).max(64),
  name: z.string().min(1).max(64).optional(),
  publicJwk: z.looseObject({}),
});
const decideBody = z.object({
  requestId: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'a request id'),
  decision: z.enum(['approve', 'reject', 'mark_done', 'run_again']),
  reason: z.string().max(2000).nullable().optional(),
  jws: z.string().min(1).max(8192),
});

const DEVICE_WORDS: BodyWords = { notJson: 'The body must be JSON (Content-Type: application/json).', wrongShape: 'The body is not what this call takes' };
const body = <T>(c: Context, schema: z.ZodType<T>) => readJson(c, schema, DEVICE_WORDS);

/** What a device shows for one request: everything it needs to recompute the digest, and the canonical intent. */
function inboxItem(r: RequestView) {
  const { approved, required } = approvalsCount(r);
  const agentText = (r.intent.agentText ?? []).map((t) => ({ ...t, author: 'agent' as const, note: "The agent's own words, not checked by Countersign." }));
  // An outcome nobody could tell is not an approval: the device asks whether it ran (Mark as done / Run again).
  const unknown = r.error?.code === 'outcome_unknown' ? { message: r.error.message, check: r.error.check ?? null } : null;
  return { id: r.id, digest: r.digest, tool: r.body.tool, state: r.state, unknown, expiresAt: r.body.expiresAt, approvals: { approved, required }, body: r.body, intent: { ...r.intent, agentText } };
}

export function deviceApi(deps: Pick<WebDeps, 'store' | 'kernel'>, report: Reporter): Hono<DeviceEnv> {
  const api = new Hono<DeviceEnv>();
  const nonces = { remember: (key: string) => deps.store.rememberNonce(key) };

  api.post('/pair', async (c) => {
    const parsed = await body(c, pairBody);
    if (!parsed.ok) return fail(c, 400, 'bad_request', parsed.message);
    const { code, publicJwk } = parsed.value;
    const claimed = await deps.store.claimPairingCode(code);
    if (!claimed) {
      const state = await deps.store.pairingCodeState(code);
      report('pairing_code', `pairing with a ${state} code`);
      if (state === 'unknown') return fail(c, 400, 'invalid_code', 'This pairing code is not valid. Check it, or make a new one ("Pair a Passport", or countersign device pair).');
      return fail(c, 410, `code_${state}`, `This pairing code was ${state === 'used' ? 'already used' : 'valid for 10 minutes and has expired'}. Make a new one ("Pair a Passport", or countersign device pair).`);
    }
    try {
      const name = parsed.value.name ?? claimed.name ?? 'Passport';
      const device = await deps.kernel.addDevice(claimed.approverId, name, publicJwk as JsonObject);
      const approver = await deps.kernel.approverById(device.approverId);
      return c.json({ deviceId: device.id, name: device.name, approverEmail: approver?.email ?? null, pairedAt: device.pairedAt }, 201);
    } catch (error) {
      // The code was fine but the key was not: give the code back so the same device can retry with a proper key.
      await deps.store.releasePairingCode(code);
      if (error instanceof KernelError && (error.code === 'bad_request' || error.code === 'not_an_approver')) return fail(c, 400, error.code, error.message);
      throw error;
    }
  });

  const device = requireDevice(deps.kernel, nonces);

  api.get('/inbox', device, async (c) => {
    const { id, name, email, approverId } = c.var.device;
    const pending = await deps.kernel.inbox(approverId);
    return c.json({ device: { id, name, approverEmail: email }, requests: pending.map(inboxItem) });
  });

  api.post('/decide', device, async (c) => {
    const parsed = await body(c, decideBody);
    if (!parsed.ok) return fail(c, 400, 'bad_request', parsed.message);
    const { requestId, decision, jws } = parsed.value;
    // Exactly as the device signed it (kernel/evidence.ts: the reason is inside the signed bytes); empty means none.
    const reason = parsed.value.reason || null;
    try {
      const after = await deps.kernel.decideOnDevice(requestId, decision, reason, c.var.device.id, jws);
      const { approved, required } = approvalsCount(after);
      return c.json({ requestId, state: after.state, approvals: { approved, required }, message: outcomeMessage(after, decision) });
    } catch (error) {
      if (!(error instanceof KernelError)) throw error;
      const status: Status =
        error.code === 'unknown_request' ? 404 : error.code === 'not_pending' ? 409 : error.code === 'bad_request' ? 400 : 403;
      return fail(c, status, error.code, error.message);
    }
  });

  api.all('*', (c) => fail(c, 404, 'not_found', `There is no device API call ${c.req.method} ${c.req.path}. Calls: POST pair, GET inbox, POST decide (approve, reject; mark_done, run_again for an outcome nobody could tell).`));
  api.onError((error, c) => {
    console.error(`device api: ${c.req.method} ${c.req.path} failed: ${error.message}`);
    return fail(c, 500, 'internal', 'Countersign could not finish this call. Try again; if it keeps failing, check the server log.');
  });
  return api;
}
