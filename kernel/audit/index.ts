/** The hash-chained audit log: append, checkpoints, verification. Offline bundles live in gateway/audit/bundle.ts. */
export { GENESIS_HASH, computeEntryHash, type AuditInput, type AuditEntry, type AuditCheckpoint } from './entry.ts';
export { createJwsSigner, jwkKid, type CheckpointSigner } from './signer.ts';
export { verifyChain, ChainChecker, type VerifyResult, type ChainStart } from './verify.ts';
export { createAuditLog, verifyStored, type AuditLog, type AuditLogOptions } from './log.ts';
export { firstSeqSince, readEntries, readCheckpoints, type AuditFilter } from './store.ts';
