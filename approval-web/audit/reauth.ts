import { generateAuthenticationOptions, type PublicKeyCredentialRequestOptionsJSON } from '@simplewebauthn/server';
import { z } from 'zod';
import { KernelError } from '../../kernel/index.ts';
import type { WebDeps } from '../context.ts';
import type { Approver } from '../kernel-client.ts';
import { verifySignIn, type RelyingParty } from '../webauthn.ts';

/**
 * A fresh passkey assertion before a destructive action. The challenge is stored like a sign-in challenge but
 * bound to (approver, action, target) through its subject, so it cannot sign anyone in, cannot confirm another
 * action, and is single use.
 */

export const action = z.object({ action: z.enum(['revoke', 'remove', 'connect']), target: z.string().min(1).max(1024) });
export type ReauthAction = z.infer<typeof action>;

const subject = (approverId: string, a: ReauthAction) => `reauth:${approverId}:${a.action}:${a.target}`;

/** Options that accept only the signed-in approver's own passkeys, with user verification. */
export async function reauthOptions(deps: WebDeps, rp: RelyingParty, me: Approver, a: ReauthAction): Promise<{ challengeId: string; options: PublicKeyCredentialRequestOptionsJSON }> {
  const options = await generateAuthenticationOptions({
    rpID: rp.rpId,
    userVerification: 'required',
    allowCredentials: me.passkeys.map((k) => ({ id: k.id, transports: k.transports as never })),
  });
  // 'signin' is the stored purpose the web app's challenge table knows; the subject keeps it from signing anyone in.
  const challengeId = await deps.store.storeChallenge('signin', options.challenge, subject(me.id, a));
  return { challengeId, options };
}

/** Verifies the assertion is fresh, answers this challenge, and comes from one of the signed-in approver's passkeys. */
export async function verifyReauth(deps: WebDeps, rp: RelyingParty, me: Approver, a: ReauthAction, challengeId: string, response: { id: string }): Promise<void> {
  const challenge = await deps.store.takeChallenge(challengeId, 'signin', subject(me.id, a));
  if (!challenge) throw new KernelError('evidence_refused', 'This confirmation expired or was already used. Press the button again.');
  const passkey = await deps.kernel.lookupPasskey(response.id);
  if (!passkey || passkey.removedAt || passkey.approverId !== me.id) {
    throw new KernelError('evidence_refused', 'Confirm with one of your own passkeys: this one is not registered to you (or was removed).');
  }
  const newCounter = await verifySignIn(rp, challenge, response, passkey);
  if (!(await deps.kernel.touchPasskey(passkey.id, passkey.counter, newCounter))) {
    throw new KernelError('evidence_refused', 'This passkey was used elsewhere at the same moment, or it may have been copied. Try again.');
  }
}
