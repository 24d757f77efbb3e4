import {
  generateAuthenticationOptions,
  generateRegistrationOptions,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
  type AuthenticationResponseJSON,
  type PublicKeyCredentialCreationOptionsJSON,
  type PublicKeyCredentialRequestOptionsJSON,
  type RegistrationResponseJSON,
} from '@simplewebauthn/server';
import { isoBase64URL } from '@simplewebauthn/server/helpers';
import { KernelError, sha256Hex, type PasskeyInput } from '../kernel/index.ts';
import type { StoredPasskey } from './kernel-client.ts';

/**
 * Registration and sign-in ceremonies over @simplewebauthn/server. User verification is always required, and the
 * RP ID and origin come from the configured public URL, never from the request.
 */

export interface RelyingParty {
  rpId: string;
  origin: string;
}

export function relyingParty(publicUrl: string): RelyingParty {
  const url = new URL(publicUrl);
  return { rpId: url.hostname, origin: url.origin };
}

/** Registration options for a discoverable, user-verified passkey, excluding the passkeys the approver already has. */
export function registrationOptions(
  rp: RelyingParty,
  email: string,
  existing: { id: string; transports: string[] }[],
): Promise<PublicKeyCredentialCreationOptionsJSON> {
  return generateRegistrationOptions({
    rpName: 'Countersign',
    rpID: rp.rpId,
    userName: email,
    userDisplayName: email,
    // A stable user handle per email, so a second passkey on the same authenticator replaces nothing unexpectedly.
    userID: new Uint8Array(Buffer.from(sha256Hex('countersign/user/v1\0', email), 'hex')),
    attestationType: 'none',
    authenticatorSelection: { residentKey: 'required', requireResidentKey: true, userVerification: 'required' },
    excludeCredentials: existing.map((passkey) => ({ id: passkey.id, transports: passkey.transports })),
  });
}

/** Verifies a registration response against its stored challenge; returns the credential to hand to the kernel. */
export async function verifyRegistration(rp: RelyingParty, expectedChallenge: string, response: unknown): Promise<PasskeyInput> {
  let verification;
  try {
    verification = await verifyRegistrationResponse({
      response: response as RegistrationResponseJSON,
      expectedChallenge,
      expectedOrigin: rp.origin,
      expectedRPID: rp.rpId,
      requireUserVerification: true,
    });
  } catch (error) {
    throw new KernelError('evidence_refused', `the new passkey could not be verified: ${(error as Error).message}. Press "Create passkey" again.`);
  }
  if (!verification.verified) throw new KernelError('evidence_refused', 'the new passkey could not be verified. Press "Create passkey" again.');
  const { credential } = verification.registrationInfo;
  return {
    id: credential.id,
    publicKey: isoBase64URL.fromBuffer(credential.publicKey),
    counter: credential.counter,
    transports: credential.transports ?? [],
    name: 'passkey',
  };
}

/** Sign-in options with an empty allow list: the authenticator offers whichever discoverable passkey the person picks. */
export function signInOptions(rp: RelyingParty): Promise<PublicKeyCredentialRequestOptionsJSON> {
  return generateAuthenticationOptions({ rpID: rp.rpId, allowCredentials: [], userVerification: 'required' });
}

/** Verifies a sign-in assertion with the registered credential; returns the authenticator's new counter. */
export async function verifySignIn(
  rp: RelyingParty,
  expectedChallenge: string,
  response: unknown,
  passkey: StoredPasskey,
): Promise<number> {
  let verification;
  try {
    verification = await verifyAuthenticationResponse({
      response: response as AuthenticationResponseJSON,
      expectedChallenge,
      expectedOrigin: rp.origin,
      expectedRPID: rp.rpId,
      requireUserVerification: true,
      credential: {
        id: passkey.id,
        publicKey: isoBase64URL.toBuffer(passkey.publicKey),
        counter: passkey.counter,
        transports: passkey.transports as never,
      },
    });
  } catch (error) {
    throw new KernelError('evidence_refused', `the passkey's answer could not be verified: ${(error as Error).message}. Try signing in again.`);
  }
  if (!verification.verified) throw new KernelError('evidence_refused', "the passkey's answer could not be verified. Try signing in again.");
  return verification.authenticationInfo.newCounter;
}
