import { and, desc, eq, gte, inArray, lt, sql } from 'drizzle-orm';
import { KernelError, schema, type Db } from '../../kernel/index.ts';
import type { Stats } from './messages.ts';

const { agents, decisions, requests } = schema;

/** Upper bounds (seconds) of the time-to-approval buckets; the last bucket is open-ended. */
const BUCKETS: { upTo: number | null; label: string }[] = [
  { upTo: 10, label: '< 10 s' },
  { upTo: 30, label: '10-30 s' },
  { upTo: 60, label: '30 s-1 min' },
  { upTo: 300, label: '1-5 min' },
  { upTo: 900, label: '5-15 min' },
  { upTo: 3600, label: '15-60 min' },
  { upTo: null, label: '> 1 h' },
];

/** Longest window a chart covers: 31 days of hourly bars is already 744 bars. */
const MAX_WINDOW_MS = 31 * 86_400_000;

function window(from: string, to: string): { from: Date; to: Date } {
  const start = Date.parse(from);
  const end = Date.parse(to);
  if (Number.isNaN(start) || Number.isNaN(end)) throw new KernelError('bad_request', 'audit.stats needs from and to as ISO 8601 times, e.g. 2025-06-01T00:00:00Z');
  if (end <= start) throw new KernelError('bad_request', `audit.stats: "to" (${to}) must come after "from" (${from})`);
  if (end - start > MAX_WINDOW_MS) throw new KernelError('bad_request', 'audit.stats covers at most 31 days at a time; narrow from and to');
  return { from: new Date(start), to: new Date(end) };
}

const hourOf = sql<string>`to_char(date_trunc('hour', ${requests.createdAt} at time zone 'UTC'), 'YYYY-MM-DD"T"HH24":00:00Z"')`;

/** Requests per hour by policy decision, time to a final human decision, and the busiest tools and agents. */
export async function stats(db: Db, fromIso: string, toIso: string): Promise<Stats> {
  const { from, to } = window(fromIso, toIso);
  const inWindow = and(gte(requests.createdAt, from), lt(requests.createdAt, to));
  const decision = sql<string>`${requests.verdict}->>'decision'`;
  const hourly = await db
    .select({ hour: hourOf, decision, count: sql<number>`count(*)::int` })
    .from(requests)
    .where(inWindow)
    .groupBy(hourOf, decision)
    .orderBy(hourOf);
  const perHour = new Map<string, { hour: string; allow: number; deny: number; approve: number }>();
  for (const row of hourly) {
    const bar = perHour.get(row.hour) ?? { hour: row.hour, allow: 0, deny: 0, approve: 0 };
    if (row.decision === 'allow' || row.decision === 'deny' || row.decision === 'approve') bar[row.decision] += Number(row.count);
    perHour.set(row.hour, bar);
  }

  // The time a request waited is until its last decision: the one that met the quorum (or rejected it).
  const waited = sql<number>`extract(epoch from (max(${decisions.createdAt}) - ${requests.createdAt}))`;
  const waits = db
    .select({ seconds: waited.as('seconds') })
    .from(requests)
    .innerJoin(decisions, eq(decisions.requestId, requests.id))
    .where(and(inWindow, inArray(requests.state, ['approved', 'rejected', 'executing', 'succeeded', 'failed', 'unknown'])))
    .groupBy(requests.id, requests.createdAt)
    .as('waits');
  const bucket = sql<number>`width_bucket(${waits.seconds}, array[${sql.raw(BUCKETS.filter((b) => b.upTo !== null).map((b) => b.upTo).join(','))}]::float8[])`;
  const histogram = await db.select({ bucket, count: sql<number>`count(*)::int` }).from(waits).groupBy(bucket);
  const counts = new Map(histogram.map((row) => [Number(row.bucket), Number(row.count)]));

  const count = sql<number>`count(*)::int`;
  const topTools = await db.select({ name: requests.tool, count }).from(requests).where(inWindow).groupBy(requests.tool).orderBy(desc(count)).limit(10);
  const agentName = sql<string>`coalesce(${agents.name}, ${requests.agentId})`;
  const topAgents = await db
    .select({ name: agentName, count })
    .from(requests)
    .leftJoin(agents, eq(agents.id, requests.agentId))
    .where(inWindow)
    .groupBy(agentName)
    .orderBy(desc(count))
    .limit(10);

  return {
    from: from.toISOString(),
    to: to.toISOString(),
    perHour: [...perHour.values()],
    timeToApproval: BUCKETS.map((b, i) => ({ ...b, count: counts.get(i) ?? 0 })),
    topTools: topTools.map((t) => ({ name: t.name, count: Number(t.count) })),
    topAgents: topAgents.map((a) => ({ name: a.name, count: Number(a.count) })),
  };
}
