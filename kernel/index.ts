/** The kernel's complete public surface. Everything outside kernel/ imports from here, never from a deeper file. */
export type * from './types.ts';
export { FINAL_STATES } from './types.ts';
export { KernelError, asKernelError, type KernelErrorCode } from './errors.ts';
export { jcs, sha256Hex, requestDigest } from './digest.ts';
export { createRouter, allows, type Router, type Port, type Envelope, type Message, type Handler, type Reply, type Capability } from './router.ts';
export type { ConnectorMessage, ToolInfo, DescribeReply, ExecuteReply, ReconcileReply } from './connector.ts';
export type { Db } from './store/db.ts';
export * as schema from './store/schema.ts';
export type { KernelMessage, PasskeyInput, EvidenceInput, RequestView } from './messages.ts';
export { approvalChallenge, approvalSigningBytes, checkDecision, checkDigest, verifyPasskeyEvidence, verifyDeviceEvidence, updatePasskeyCounter } from './evidence.ts';
export type { Receipt, PasskeyReceipt, DeviceReceipt, PasskeyEvidenceInput, DeviceEvidenceInput, StoredPasskey } from './evidence.ts';
export { mintGrant, verifyGrant, recordGrant, consumeGrant, type KernelKeys, type MintedGrant } from './grants.ts';
export {
  compilePolicy,
  createBudgetStore,
  parseDuration,
  BUDGET_KEY,
  type BudgetStore,
  type BudgetReader,
  type CompileOptions,
  type CompiledPolicy,
  type PolicyConfig,
  type PolicyExplanation,
  type PolicyAgent,
  type PolicyInput,
  type RuleConfig,
  type RuleLimit,
  type TraceStep,
} from './policy/index.ts';
export { GENESIS_HASH, computeEntryHash, type AuditInput, type AuditEntry, type AuditCheckpoint } from './audit/entry.ts';
export { createJwsSigner, jwkKid, type CheckpointSigner } from './audit/signer.ts';
export { verifyChain, ChainChecker, type VerifyResult, type ChainStart } from './audit/verify.ts';
export { createAuditLog, verifyStored, type AuditLog, type AuditLogOptions } from './audit/log.ts';
export { firstSeqSince, readEntries, readCheckpoints, type AuditFilter } from './audit/store.ts';
export { createKernel, type Kernel, type KernelOptions, type Signals } from './kernel.ts';
export { isEligible, tally, quorumText, type ApprovalOutcome } from './approvals.ts';
export type { AgentView, ApproverView } from './directory.ts';
