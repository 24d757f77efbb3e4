import { bigint, pgTable, text } from 'drizzle-orm/pg-core';

// Tables of earlier versions that the kernel no longer reads or writes, kept so drizzle-kit does not drop them: an
// upgraded install keeps its history, and `gateway/upgrade` reads it once when it adopts the old chain.

/** The JWS checkpoints of the hash chain that preceded the tree (migration 0007); kept, no longer written. */
export const auditCheckpoints = pgTable('audit_checkpoints', {
  seq: bigint('seq', { mode: 'number' }).primaryKey(),
  hash: text('hash').notNull(),
  signature: text('signature').notNull(), // compact JWS over {seq, hash, at}
  at: text('at').notNull(),
});
