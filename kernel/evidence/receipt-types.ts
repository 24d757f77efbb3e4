import type { AuthenticationResponseJSON } from '@simplewebauthn/server';
import type { ApprovalDecision } from '../types.ts';

/**
 * Everything needed to re-verify one approver's decision later, without a database: the evidence exactly as the
 * approver's key produced it, plus what it was checked against. Stored whole in `decisions.evidence` and the audit log.
 */
export type Receipt = PasskeyReceipt | DeviceReceipt;

export interface PasskeyReceipt {
  kind: 'webauthn';
  version: 1;
  credentialId: string;
  digest: string;
  decision: ApprovalDecision;
  origin: string;
  rpId: string;
  /** The assertion exactly as the browser returned it. */
  response: AuthenticationResponseJSON;
}

export interface DeviceReceipt {
  kind: 'device';
  version: 1;
  deviceId: string;
  digest: string;
  decision: ApprovalDecision;
  /** The compact JWS exactly as the device sent it. */
  jws: string;
}
