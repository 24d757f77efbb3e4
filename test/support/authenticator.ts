import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { isoCBOR } from '@simplewebauthn/server/helpers';
import type {
  AuthenticationResponseJSON,
  PublicKeyCredentialCreationOptionsJSON,
  PublicKeyCredentialDescriptorJSON,
  RegistrationResponseJSON,
} from '@simplewebauthn/server';

type CBORType = Parameters<typeof isoCBOR.encode>[0];

/**
 * A software WebAuthn authenticator for tests. It produces genuine ES256 assertions that @simplewebauthn/server
 * verifies, so tests exercise the real verification path rather than a mock. One credential per authenticator.
 */
export interface SoftAuthenticator {
  readonly credentialId: string;
  /** Creates the credential for `challengeOrOptions` ('none' attestation) and returns what the browser would. */
  register(challengeOrOptions: string | PublicKeyCredentialCreationOptionsJSON, overrides?: { origin?: string }): RegistrationResponseJSON;
  /** Signs an assertion over `options.challenge`. Each call advances the signature counter by `counterIncrement`. */
  assert(options: AssertOptions, behaviour?: AssertBehaviour): AuthenticationResponseJSON;
  /** The credential as the kernel stores it, to seed the passkeys table without a registration ceremony. */
  credentialForKernel(): { id: string; publicKey: string; counter: number };
  /** The current signature counter. */
  readonly counter: number;
}

export interface AssertOptions {
  challenge: string;
  allowCredentials?: PublicKeyCredentialDescriptorJSON[];
  rpId?: string;
}

export interface AssertBehaviour {
  userVerified?: boolean;
  /** 0 makes an authenticator that does not count (counter stays put). */
  counterIncrement?: number;
  /** Claim another origin in clientDataJSON, as a phishing page would. */
  origin?: string;
}

const FLAG_UP = 0x01;
const FLAG_UV = 0x04;
const FLAG_AT = 0x40;
const AAGUID = new Uint8Array(16); // all zeros: "no attestation" authenticators report this

/** A new soft authenticator bound to `rpId` and, by default, `origin`. */
export function createSoftAuthenticator(config: { rpId: string; origin: string }): SoftAuthenticator {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const rawId = randomBytes(32);
  const credentialId = rawId.toString('base64url');
  const cose = coseKey(publicKey);
  let counter = 0;

  const authData = (rpId: string, flags: number, attested: boolean): Buffer => {
    const parts = [sha256(rpId), Buffer.from([flags]), u32(counter)];
    if (attested) parts.push(Buffer.from(AAGUID), u16(rawId.length), rawId, Buffer.from(cose));
    return Buffer.concat(parts);
  };

  return {
    credentialId,
    get counter() {
      return counter;
    },
    register(challengeOrOptions, overrides = {}) {
      const options = typeof challengeOrOptions === 'string' ? null : challengeOrOptions;
      const challenge = options ? options.challenge : (challengeOrOptions as string);
      const rpId = options?.rp.id ?? config.rpId;
      const clientDataJSON = clientData('webauthn.create', challenge, overrides.origin ?? config.origin);
      const data = authData(rpId, FLAG_UP | FLAG_UV | FLAG_AT, true);
      const attestationObject = isoCBOR.encode(new Map<string, CBORType>([
        ['fmt', 'none'],
        ['attStmt', new Map<string, CBORType>()],
        ['authData', new Uint8Array(data)],
      ]));
      return {
        id: credentialId,
        rawId: credentialId,
        type: 'public-key',
        clientExtensionResults: {},
        authenticatorAttachment: 'cross-platform',
        response: {
          clientDataJSON: clientDataJSON.toString('base64url'),
          attestationObject: Buffer.from(attestationObject).toString('base64url'),
          authenticatorData: data.toString('base64url'),
          transports: ['usb'],
          publicKeyAlgorithm: -7,
          publicKey: publicKey.export({ type: 'spki', format: 'der' }).toString('base64url'),
        },
      };
    },
    assert(options, behaviour = {}) {
      const { userVerified = true, counterIncrement = 1 } = behaviour;
      const allowed = options.allowCredentials;
      if (allowed && allowed.length > 0 && !allowed.some((c) => c.id === credentialId)) {
        throw new Error(`soft authenticator: credential ${credentialId} is not in allowCredentials`);
      }
      counter += counterIncrement;
      const clientDataJSON = clientData('webauthn.get', options.challenge, behaviour.origin ?? config.origin);
      const data = authData(options.rpId ?? config.rpId, FLAG_UP | (userVerified ? FLAG_UV : 0), false);
      const signature = sign('sha256', Buffer.concat([data, sha256(clientDataJSON)]), privateKey); // DER, as WebAuthn wants
      return {
        id: credentialId,
        rawId: credentialId,
        type: 'public-key',
        clientExtensionResults: {},
        authenticatorAttachment: 'cross-platform',
        response: {
          clientDataJSON: clientDataJSON.toString('base64url'),
          authenticatorData: data.toString('base64url'),
          signature: signature.toString('base64url'),
        },
      };
    },
    credentialForKernel() {
      return { id: credentialId, publicKey: Buffer.from(cose).toString('base64url'), counter };
    },
  };
}

/** The P-256 public key as a COSE_Key map (kty EC2, alg ES256), the form WebAuthn registers. */
function coseKey(publicKey: KeyObject): Uint8Array {
  const jwk = publicKey.export({ format: 'jwk' });
  return isoCBOR.encode(new Map<number, number | Uint8Array>([
    [1, 2], // kty: EC2
    [3, -7], // alg: ES256
    [-1, 1], // crv: P-256
    [-2, new Uint8Array(Buffer.from(String(jwk.x), 'base64url'))],
    [-3, new Uint8Array(Buffer.from(String(jwk.y), 'base64url'))],
  ]));
}

function clientData(type: string, challenge: string, origin: string): Buffer {
  return Buffer.from(JSON.stringify({ type, challenge, origin, crossOrigin: false }));
}

function sha256(data: string | Uint8Array): Buffer {
  return createHash('sha256').update(data).digest();
}

function u32(value: number): Buffer {
  const buffer = Buffer.alloc(4);
  buffer.writeUInt32BE(value);
  return buffer;
}

function u16(value: number): Buffer {
  const buffer = Buffer.alloc(2);
  buffer.writeUInt16BE(value);
  return buffer;
}
