/** The hash-chained audit log: append, checkpoints, verification, and offline bundles. */
export { GENESIS_HASH, computeEntryHash, type AuditInput, type AuditEntry, type AuditCheckpoint } from './entry.ts';
export { createJwsSigner, jwkKid, type CheckpointSigner } from './signer.ts';
export { verifyChain, type VerifyResult, type ChainStart } from './verify.ts';
export { createAuditLog, verifyStored, type AuditLog, type AuditLogOptions } from './log.ts';
export { firstSeqSince, type AuditFilter } from './store.ts';
export { exportBundle, verifyBundle, readKernelPublicKeys, BUNDLE_FORMAT, type BundleHeader, type BundleResult, type ReceiptVerifier } from './bundle.ts';
