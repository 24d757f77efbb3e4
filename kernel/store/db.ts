import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';

/**
 * The one database handle every store takes. PGlite and PostgreSQL drivers both produce it, so one query layer
 * serves both; the driver is chosen outside the kernel (gateway/db.ts).
 */
export type Db = PgDatabase<PgQueryResultHKT, Record<string, never>>;
