import { jsonb, pgTable, text } from 'drizzle-orm/pg-core';

/**
 * The gateway's own table: facts it keeps about the kernel it runs (the kernel's public keys, the audit log's origin
 * line). The kernel never reads it; its tables are in kernel/store/schema.ts.
 */
export const kernelMeta = pgTable('kernel_meta', {
  key: text('key').primaryKey(),
  value: jsonb('value').notNull(),
});
