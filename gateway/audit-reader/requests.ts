import { and, desc, eq, inArray, or, sql, type SQL } from 'drizzle-orm';
import { KernelError, schema, type Db } from '../../kernel/index.ts';
import type { RequestFilter, RequestPage, RequestRow } from './messages.ts';

const { agents, requests } = schema;

/** Most rows one page may ask for; the dashboard shows 50. */
export const MAX_LIMIT = 200;

interface Cursor {
  /** created_at exactly as PostgreSQL prints it (microseconds), so the next page starts at the same instant. */
  t: string;
  id: string;
}

/** Cursors are opaque to callers: base64url JSON of the last row's (created_at, id). */
export function encodeCursor(cursor: Cursor): string {
  return Buffer.from(JSON.stringify(cursor)).toString('base64url');
}

export function decodeCursor(value: string): Cursor {
  try {
    const parsed = JSON.parse(Buffer.from(value, 'base64url').toString('utf8')) as Partial<Cursor>;
    if (typeof parsed.t === 'string' && typeof parsed.id === 'string' && !Number.isNaN(Date.parse(parsed.t))) return { t: parsed.t, id: parsed.id };
  } catch {
    // reported below
  }
  throw new KernelError('bad_request', 'the page cursor is not one this dashboard made; start again from the first page (drop "after")');
}

function time(value: string, name: string): Date {
  const at = Date.parse(value);
  if (Number.isNaN(at)) throw new KernelError('bad_request', `filter.${name} "${value}" is not a time; use ISO 8601 like 2025-06-01T12:00:00Z`);
  return new Date(at);
}

/** The search vector; the same expression as the `requests_search` GIN index, so the index serves it. */
const searchVector = sql`to_tsvector('simple'::regconfig, coalesce(${requests.intent}->>'summary', '') || ' ' || ${requests.tool})`;

async function conditions(db: Db, filter: RequestFilter): Promise<SQL[]> {
  const where: SQL[] = [];
  if (filter.agent) {
    // An agent is named by its name (what people type) or its id (what links carry); resolved first, so the
    // (agent_id, created_at) index serves the page.
    const found = await db.select({ id: agents.id }).from(agents).where(or(eq(agents.name, filter.agent), eq(agents.id, filter.agent)));
    where.push(inArray(requests.agentId, [filter.agent, ...found.map((a) => a.id)]));
  }
  if (filter.tool) where.push(eq(requests.tool, filter.tool));
  if (filter.decision) where.push(sql`(${requests.verdict}->>'decision') = ${filter.decision}`);
  if (filter.state) where.push(eq(requests.state, filter.state));
  if (filter.from) where.push(sql`${requests.createdAt} >= ${time(filter.from, 'from').toISOString()}::timestamptz`);
  if (filter.to) where.push(sql`${requests.createdAt} < ${time(filter.to, 'to').toISOString()}::timestamptz`);
  if (filter.q) {
    // Whole words of the summary and tool, parsed by the same text-search parser on both sides; or an exact id.
    where.push(or(sql`${searchVector} @@ plainto_tsquery('simple'::regconfig, ${filter.q})`, eq(requests.id, filter.q))!);
  }
  return where;
}

/**
 * One page of requests, newest first, keyset-paginated on (created_at desc, id desc): a page is as cheap deep in
 * the history as at its start, and rows inserted meanwhile never shift later pages.
 */
export async function listRequests(db: Db, filter: RequestFilter, after: string | null, limit: number): Promise<RequestPage> {
  const where = await conditions(db, filter);
  if (after) {
    const cursor = decodeCursor(after);
    where.push(sql`(${requests.createdAt}, ${requests.id}) < (${cursor.t}::timestamptz, ${cursor.id})`);
  }
  const rows = await db
    .select({
      id: requests.id,
      createdText: sql<string>`${requests.createdAt}::text`,
      createdAt: requests.createdAt,
      agentId: requests.agentId,
      agentName: agents.name,
      tool: requests.tool,
      summary: sql<string | null>`${requests.intent}->>'summary'`,
      decision: sql<string | null>`${requests.verdict}->>'decision'`,
      ruleId: requests.ruleId,
      state: requests.state,
    })
    .from(requests)
    .leftJoin(agents, eq(agents.id, requests.agentId))
    .where(where.length > 0 ? and(...where) : undefined)
    .orderBy(desc(requests.createdAt), desc(requests.id))
    .limit(limit + 1);
  const page = rows.slice(0, limit);
  const last = page[page.length - 1];
  return {
    rows: page.map(
      (row): RequestRow => ({
        id: row.id,
        createdAt: row.createdAt.toISOString(),
        agentId: row.agentId,
        agentName: row.agentName,
        tool: row.tool,
        summary: row.summary ?? '',
        decision: row.decision ?? '',
        ruleId: row.ruleId,
        state: row.state,
      }),
    ),
    next: rows.length > limit && last ? encodeCursor({ t: last.createdText, id: last.id }) : null,
  };
}
