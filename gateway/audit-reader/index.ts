import { z } from 'zod';
import { CAPABILITIES, KernelError, latestCheckpoint, type Db, type Envelope, type Json, type Port, type Router } from '../../kernel/index.ts';
import type { AuditReaderMessage } from './messages.ts';
import { listRequests, MAX_LIMIT } from './requests.ts';
import { createChainWatch, type ChainWatchOptions } from './status.ts';
import { stats } from './stats.ts';
import { people } from './people.ts';
import { timeline } from './timeline.ts';

export type * from './messages.ts';
export { encodeCursor, decodeCursor, listRequests } from './requests.ts';
export { createChainWatch, type ChainWatch, type ChainWatchOptions } from './status.ts';

/** The router name of the read-only audit service. Senders need `audit:<op>` (the web app holds each `audit:audit.*` op it sends: CAPABILITIES.web). */
export const AUDIT_ENDPOINT = 'audit';

const STATS_TTL_MS = 30_000;

const text = z.string().trim().min(1).max(200);
const filterSchema = z
  .object({
    agent: text.optional(),
    tool: text.optional(),
    decision: z.enum(['allow', 'deny', 'approve']).optional(),
    state: z
      .enum(['received', 'denied', 'allowed', 'pending', 'approved', 'rejected', 'expired', 'cancelled', 'executing', 'succeeded', 'failed', 'unknown'])
      .optional(),
    from: z.string().max(64).optional(),
    to: z.string().max(64).optional(),
    q: text.optional(),
  })
  .strict();

const messageSchema = z.discriminatedUnion('op', [
  z.object({
    op: z.literal('audit.requests'),
    filter: filterSchema.optional(),
    after: z.string().max(512).nullable().optional(),
    limit: z.number().int().min(1).max(MAX_LIMIT).optional(),
  }),
  z.object({ op: z.literal('audit.timeline'), requestId: text }),
  z.object({ op: z.literal('audit.status'), fresh: z.boolean().optional() }),
  z.object({ op: z.literal('audit.stats'), from: z.string().max(64), to: z.string().max(64) }),
  z.object({ op: z.literal('audit.people') }),
  z.object({ op: z.literal('audit.checkpoint') }),
]);

function parse(body: unknown): AuditReaderMessage {
  const parsed = messageSchema.safeParse(body);
  if (!parsed.success) {
    const op = typeof (body as { op?: unknown })?.op === 'string' ? (body as { op: string }).op : '(no op)';
    throw new KernelError('bad_request', `audit: ${op} is not a valid message: ${z.prettifyError(parsed.error)}. Ops: audit.requests, audit.timeline, audit.status, audit.stats, audit.people, audit.checkpoint`);
  }
  return parsed.data as AuditReaderMessage;
}

export interface AuditReaderOptions {
  /** Kernel public keys that sign checkpoints: a list, or a function read at each check (keys can rotate). */
  verifierKeys: ChainWatchOptions['verifierKeys'];
  statusTtlMs?: number;
}

/** The reader's handler, usable without a router in tests. */
export function auditReaderHandler(db: Db, options: AuditReaderOptions): (envelope: Pick<Envelope, 'body'>) => Promise<Json> {
  const watch = createChainWatch(db, { verifierKeys: options.verifierKeys, ttlMs: options.statusTtlMs });
  // Charts need not be live to the second: a window's stats are reused for 30 s (pages ask for whole-hour windows).
  const statsCache = new Map<string, { at: number; value: Promise<Json> }>();
  const cachedStats = (from: string, to: string): Promise<Json> => {
    const key = `${from}|${to}`;
    const hit = statsCache.get(key);
    if (hit && Date.now() - hit.at < STATS_TTL_MS) return hit.value;
    if (statsCache.size >= 64) statsCache.clear();
    const value = stats(db, from, to).then((s) => s as unknown as Json);
    value.catch(() => statsCache.delete(key));
    statsCache.set(key, { at: Date.now(), value });
    return value;
  };
  return async ({ body }) => {
    const message = parse(body);
    switch (message.op) {
      case 'audit.requests':
        return (await listRequests(db, message.filter ?? {}, message.after ?? null, message.limit ?? 50)) as unknown as Json;
      case 'audit.timeline':
        return (await timeline(db, message.requestId)) as unknown as Json;
      case 'audit.status':
        return (await watch.status(message.fresh ?? false)) as unknown as Json;
      case 'audit.stats':
        return cachedStats(message.from, message.to);
      case 'audit.people':
        return (await people(db)) as unknown as Json;
      case 'audit.checkpoint':
        // The latest signed checkpoint's note (public, nothing secret in it), or null on an empty log.
        return (await latestCheckpoint(db))?.note ?? null;
    }
  };
}

/**
 * Registers the read-only audit service on the router as `audit`. It sends nothing, so it holds no capabilities;
 * its queries live here rather than in the kernel, which stays small.
 * @example registerAuditReader(router, db, { verifierKeys: () => readVerifierKeys(db) });
 */
export function registerAuditReader(router: Router, db: Db, options: AuditReaderOptions): Port {
  return router.register(AUDIT_ENDPOINT, auditReaderHandler(db, options), CAPABILITIES.audit);
}

