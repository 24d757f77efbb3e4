import { z } from 'zod';
import {
  CAPABILITIES,
  KernelError,
  type ApprovalDecision,
  type Capability,
  type JsonObject,
  type KernelMessage,
  type PasskeyInput,
  type Port,
  type RequestView,
} from '../kernel/index.ts';

/**
 * The web app's typed client for the kernel endpoint. Replies are parsed, not cast: if the kernel's reply shape ever
 * drifts from what the pages need, the page fails with a message naming the op instead of rendering garbage.
 */

/** What the gateway must grant the web app's port when it registers it on the router. */
export const APPROVAL_WEB_CAPABILITIES: readonly Capability[] = CAPABILITIES.web;

const approverSchema = z.object({
  id: z.string(),
  email: z.string(),
  roles: z.array(z.string()).default([]),
  /** Roles from the directory and from config together: what access checks use. */
  effectiveRoles: z.array(z.string()).default([]),
  passkeys: z
    .array(z.object({ id: z.string(), transports: z.array(z.string()).default([]), name: z.string().optional() }))
    .default([]),
});
export type Approver = z.infer<typeof approverSchema>;

const deviceSchema = z.object({
  id: z.string(),
  approverId: z.string(),
  name: z.string(),
  publicJwk: z.object({ kty: z.literal('OKP'), crv: z.literal('Ed25519'), x: z.string() }),
  pairedAt: z.string(),
});
export type Device = z.infer<typeof deviceSchema>;
const pairedDeviceSchema = deviceSchema.extend({ email: z.string(), roles: z.array(z.string()).default([]) });
export type PairedDevice = z.infer<typeof pairedDeviceSchema>;

const storedPasskeySchema = z.object({
  id: z.string(),
  approverId: z.string(),
  publicKey: z.string(),
  counter: z.number().int().nonnegative(),
  transports: z.array(z.string()).default([]),
  removedAt: z.string().nullable().optional(),
});
export type StoredPasskey = z.infer<typeof storedPasskeySchema>;

function parse<T>(op: string, schema: z.ZodType<T>, value: unknown): T {
  const result = schema.safeParse(value);
  if (!result.success) {
    throw new KernelError('internal', `the kernel's reply to ${op} has an unexpected shape: ${z.prettifyError(result.error)}`);
  }
  return result.data;
}

/** A CAS reply may be a bare boolean or an object; anything but an explicit success counts as a failed swap. */
function swapped(value: unknown): boolean {
  if (value === true) return true;
  if (value && typeof value === 'object') {
    const record = value as Record<string, unknown>;
    return record.ok === true || record.updated === true || record.touched === true;
  }
  return false;
}

export interface KernelClient {
  approverByEmail(email: string): Promise<Approver | null>;
  approverById(approverId: string): Promise<Approver | null>;
  upsertApprover(email: string, roles: string[]): Promise<Approver>;
  addPasskey(approverId: string, credential: PasskeyInput): Promise<void>;
  lookupPasskey(credentialId: string): Promise<StoredPasskey | null>;
  touchPasskey(credentialId: string, oldCounter: number, newCounter: number): Promise<boolean>;
  inbox(approverId: string): Promise<RequestView[]>;
  /** The request as `approverId` may see it; null when unknown or not theirs to see (the two look the same). */
  request(requestId: string, approverId: string): Promise<RequestView | null>;
  /** The WebAuthn options for one decision; the kernel derives the challenge from the digest, the decision and its reason. */
  challenge(requestId: string, decision: ApprovalDecision, approverId: string, reason?: string | null): Promise<ApprovalChallenge>;
  /** Sends a decision with its assertion; the kernel verifies it, counts it or refuses (and audits either way). */
  decide(requestId: string, decision: ApprovalDecision, reason: string | null, response: JsonObject): Promise<RequestView>;
  /** Pairs a device's Ed25519 public key with an approver; the kernel checks the key and audits `device.paired`. */
  addDevice(approverId: string, name: string, publicJwk: JsonObject): Promise<Device>;
  listDevices(approverId: string): Promise<Device[]>;
  removeDevice(deviceId: string, approverId: string): Promise<Device>;
  /** The active device and its approver, or null when unknown or removed. */
  lookupDevice(deviceId: string): Promise<PairedDevice | null>;
  /** A decision signed on a paired device: the kernel verifies the compact JWS over the approval signing bytes. */
  decideOnDevice(requestId: string, decision: ApprovalDecision, reason: string | null, deviceId: string, jws: string): Promise<RequestView>;
  /**
   * The agent an OAuth connection the approver `by` consented to becomes: a new one owned by `owner` (audited as
   * agent.added with them and the client; its bearer token is dropped here, the connection uses OAuth tokens), or with
   * `existing`, an active agent `owner` already owns (agent.connected; the kernel refuses anyone else's: unknown_agent).
   */
  addConnectionAgent(name: string, owner: string, by: string, client: string, existing?: boolean): Promise<{ id: string; name: string }>;
}

const challengeSchema = z.object({
  challenge: z.string(),
  digest: z.string(),
  rpId: z.string(),
  allowCredentials: z.array(z.string()),
  userVerification: z.string(),
  timeoutMs: z.number(),
});
export type ApprovalChallenge = z.infer<typeof challengeSchema>;

/** Wraps the web app's router port; every call is one kernel message from kernel/messages.ts. */
export function kernelClient(port: Port): KernelClient {
  const send = (message: KernelMessage) => port.send('kernel', message);
  const orNull = async <T>(run: () => Promise<T>): Promise<T | null> => {
    try {
      return await run();
    } catch (error) {
      if (error instanceof KernelError && (error.code === 'unknown_request' || error.code === 'not_an_approver')) return null;
      throw error;
    }
  };
  return {
    async addConnectionAgent(name, owner, by, client, existing = false) {
      const reply = await send({ op: 'agent.add', name, owner, by, client, ...(existing ? { existing } : {}) });
      return parse('agent.add', z.object({ agent: z.object({ id: z.string(), name: z.string() }) }), reply).agent;
    },
    async approverByEmail(email) {
      const reply = await orNull(() => send({ op: 'approver.get', email, approverId: null }));
      return reply === null ? null : parse('approver.get', approverSchema, reply);
    },
    async approverById(approverId) {
      const reply = await orNull(() => send({ op: 'approver.get', email: null, approverId }));
      return reply === null ? null : parse('approver.get', approverSchema, reply);
    },
    async upsertApprover(email, roles) {
      return parse('approver.upsert', approverSchema, await send({ op: 'approver.upsert', email, roles }));
    },
    async addPasskey(approverId, credential) {
      await send({ op: 'passkey.add', approverId, credential });
    },
    async lookupPasskey(credentialId) {
      const reply = await orNull(() => send({ op: 'passkey.lookup', credentialId }));
      return reply === null ? null : parse('passkey.lookup', storedPasskeySchema, reply);
    },
    async touchPasskey(credentialId, oldCounter, newCounter) {
      try {
        return swapped(await send({ op: 'passkey.touch', credentialId, oldCounter, newCounter }));
      } catch (error) {
        if (error instanceof KernelError && error.code === 'evidence_refused') return false;
        throw error;
      }
    },
    async inbox(approverId) {
      const reply = await send({ op: 'approval.inbox', approverId });
      if (!Array.isArray(reply)) throw new KernelError('internal', "the kernel's reply to approval.inbox is not a list");
      return reply as unknown as RequestView[];
    },
    async request(requestId, approverId) {
      return (await orNull(() => send({ op: 'request.view', requestId, approverId }))) as RequestView | null;
    },
    async challenge(requestId, decision, approverId, reason = null) {
      return parse('approval.challenge', challengeSchema, await send({ op: 'approval.challenge', requestId, decision, approverId, reason }));
    },
    async decide(requestId, decision, reason, response) {
      const reply = await send({ op: 'approval.decide', requestId, decision, reason, evidence: { kind: 'webauthn', response } });
      return reply as unknown as RequestView;
    },
    async addDevice(approverId, name, publicJwk) {
      return parse('device.add', deviceSchema, await send({ op: 'device.add', approverId, name, publicJwk }));
    },
    async listDevices(approverId) {
      return parse('device.list', z.array(deviceSchema), await send({ op: 'device.list', approverId }));
    },
    async removeDevice(deviceId, approverId) {
      return parse('device.remove', deviceSchema, await send({ op: 'device.remove', deviceId, approverId }));
    },
    async lookupDevice(deviceId) {
      return parse('device.lookup', pairedDeviceSchema.nullable(), await send({ op: 'device.lookup', deviceId }));
    },
    async decideOnDevice(requestId, decision, reason, deviceId, jws) {
      const reply = await send({ op: 'approval.decide', requestId, decision, reason, evidence: { kind: 'device', deviceId, jws } });
      return reply as unknown as RequestView;
    },
  };
}
