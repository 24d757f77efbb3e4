import { describe, expect, it } from 'vitest';
import { runLoad } from '../../bench/load.ts';
import { check, type Checked } from '../../bench/load/check.ts';

/**
 * The load bench's correctness at a tiny scale (`npm run bench load` runs 50 agents x 200 calls): agents on two real
 * `countersign start` processes sharing one PostgreSQL, the owner approving from another process, each write counted
 * at the sandbox. Asserts what must hold whatever the timings: every call answered as policy says, 0 audit gaps,
 * `audit verify` passes, no write twice, upstream effects equal succeeded writes; then tampers with the finished
 * cluster to show the same checks catch a duplicate effect and a hole in the log. PostgreSQL only (two processes).
 */

const base = process.env.TEST_DATABASE_URL;
const SKIPPED = 'skipped on embedded PGlite (single-process); set TEST_DATABASE_URL to a PostgreSQL server to run it';
if (!base) console.warn(`load.test.ts: ${SKIPPED}`);

describe.skipIf(!base)(`the load bench at a tiny scale, two replicas${base ? '' : ` (${SKIPPED})`}`, () => {
  it('4 agents x 10 mixed calls: no duplicates, no audit gaps, audit verifies, effects equal succeeded writes', { timeout: 180_000 }, async () => {
    let duplicated: Checked | undefined;
    let holed: Checked | undefined;
    const { phases, checked, problems } = await runLoad({
      agents: 4, calls: 10, baseline: false, baseUrl: base!,
      probe: async (cluster) => {
        const effects = cluster.taps.github.effects;
        effects.push({ ...effects[effects.length - 1]! });
        duplicated = await check(cluster, 40);
        effects.pop();
        await cluster.db.unsafe(`delete from audit_entries where seq = (select max(seq) / 2 from audit_entries)`);
        holed = await check(cluster, 40);
      },
    });
    expect(problems).toEqual([]);
    const [two] = phases;
    // The mix really ran: every kind was called and ended as policy says (reads and writes ran, denials refused,
    // approvals decided by the owner's device on either replica, then run).
    expect(two!.expected).toEqual({ read: 20, write: 6, deny: 8, approve: 6 });
    expect(two!.decided).toBe(6);
    expect(checked).toMatchObject({ requests: 40, auditGaps: 0, auditVerified: true, duplicates: 0, succeededWrites: 12, upstreamEffects: 12 });
    expect(checked.byState).toEqual({ succeeded: 32, denied: 8 });

    expect(duplicated).toMatchObject({ duplicates: 1, upstreamEffects: 13, succeededWrites: 12 });
    expect(holed!.auditGaps).toBeGreaterThan(0);
    expect(holed!.auditVerified).toBe(false);
  });
});
