/** Evidence: an approver's signature over a request digest and decision, verified before the decision counts. */
export { approvalChallenge, approvalSigningBytes, checkDecision, checkDigest } from './challenge.ts';
export { verifyPasskeyEvidence, type PasskeyEvidenceInput, type StoredPasskey } from './passkey.ts';
export { updatePasskeyCounter } from './counter.ts';
export { verifyDeviceEvidence, type DeviceEvidenceInput } from './device.ts';
export type { Receipt, PasskeyReceipt, DeviceReceipt } from './receipt-types.ts';
