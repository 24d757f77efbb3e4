import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import { CAPABILITIES, type JsonObject, type RequestView } from '../../kernel/index.ts';
import { approverInvite, createApprovalWeb, createInvite } from '../../approval-web/index.ts';
import { FIXTURE_URL, startKernel, type FixtureApprover, type KernelFixture } from '../support/kernel-fixture.ts';
import { claimInvite, hashToken, inviteStatus, releaseInvite } from '../../approval-web/invites.ts';
import { storeChallenge, takeChallenge } from '../../approval-web/challenges.ts';
import { createSession, findSession, revokeSession } from '../../approval-web/sessions.ts';
import { createHistory } from '../../approval-web/history.ts';
import { databaseNonces } from '../../approval-web/devices/auth.ts';
import { deviceNonces } from '../../approval-web/schema.ts';
import { challenges, invites, sessions } from '../../approval-web/schema.ts';
import type { Database } from '../../gateway/db.ts';
import { dbKind, freshDatabase } from '../support/db.ts';

const URL_ = 'http://localhost:8787';
let database: Database;

beforeAll(async () => {
  database = await freshDatabase();
});
afterAll(async () => {
  await database?.close();
});

describe(`web invites on ${dbKind}`, () => {
  it('stores only the hash of a 32-byte token and builds the link from the public URL', async () => {
    const invite = await createInvite(database.db, { email: ' Jane@Example.com ', role: 'finance', publicUrl: URL_ });
    expect(invite.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(invite.url).toBe(`${URL_}/enroll/${invite.token}`);
    const rows = await database.db.select().from(invites).where(eq(invites.email, 'jane@example.com'));
    expect(rows).toHaveLength(1);
    expect(rows[0].tokenHash).toBe(hashToken(invite.token));
    expect(JSON.stringify(rows)).not.toContain(invite.token);
    expect(Math.round((invite.expiresAt.getTime() - Date.now()) / 60_000)).toBe(60);
  });

  it('is claimed exactly once, even by racing enrollments, and can be released after a failed enrollment', async () => {
    const invite = await createInvite(database.db, { email: 'race@example.com', publicUrl: URL_ });
    const claims = await Promise.all(Array.from({ length: 5 }, () => claimInvite(database.db, invite.token)));
    expect(claims.filter(Boolean)).toEqual([{ email: 'race@example.com', role: null }]);
    expect((await inviteStatus(database.db, invite.token)).state).toBe('used');
    await releaseInvite(database.db, invite.token);
    expect((await inviteStatus(database.db, invite.token)).state).toBe('valid');
  });

  it('cannot be claimed once expired, and says so', async () => {
    const invite = await createInvite(database.db, { email: 'late@example.com', publicUrl: URL_, ttlMinutes: 1 });
    await database.db.update(invites).set({ expiresAt: new Date(Date.now() - 1) }).where(eq(invites.tokenHash, hashToken(invite.token)));
    expect(await claimInvite(database.db, invite.token)).toBeNull();
    expect(await inviteStatus(database.db, invite.token)).toEqual({ state: 'expired', email: 'late@example.com' });
    expect(await inviteStatus(database.db, 'x'.repeat(43))).toEqual({ state: 'unknown' });
  });

  it('refuses a nonsensical ttl', async () => {
    await expect(createInvite(database.db, { email: 'a@example.com', publicUrl: URL_, ttlMinutes: 0 })).rejects.toThrow(/ttlMinutes/);
  });
});

describe(`inbox history on ${dbKind}`, () => {
  it('survives a restart and is shared by replicas: a new instance reads what another recorded, newest first, 30 at most', async () => {
    const before = createHistory(database.db);
    await before.saw('apr_h1', ['req_a', 'req_b']);
    await new Promise((r) => setTimeout(r, 5));
    await before.saw('apr_h1', ['req_c', 'req_a']);
    const after = createHistory(database.db); // as after a restart, or on another replica
    expect(await after.recent('apr_h1')).toEqual(['req_c', ...(await after.recent('apr_h1')).slice(1)]);
    expect((await after.recent('apr_h1')).sort()).toEqual(['req_a', 'req_b', 'req_c']);
    expect(await after.recent('apr_other')).toEqual([]);
    // Each a few milliseconds apart: PGlite's clock counts whole milliseconds, and two sightings in one share a time.
    for (let i = 0; i < 40; i++) {
      await after.saw('apr_h1', [`req_${String(i).padStart(2, '0')}`]);
      await new Promise((r) => setTimeout(r, 2));
    }
    const kept = await before.recent('apr_h1');
    expect(kept).toHaveLength(30);
    expect(kept[0]).toBe('req_39');
  });
});

describe(`device-call nonces on ${dbKind}`, () => {
  it('accept a nonce once across replicas, and forget it once it could no longer be fresh', async () => {
    const [replicaA, replicaB] = [databaseNonces(database.db), databaseNonces(database.db)];
    expect(await replicaA.remember('dev_1:nonce-aaaaaaaaaaaaaaaa')).toBe(true);
    expect(await replicaB.remember('dev_1:nonce-aaaaaaaaaaaaaaaa')).toBe(false);
    expect(await replicaA.remember('dev_1:nonce-aaaaaaaaaaaaaaaa')).toBe(false);
    expect(await Promise.all([replicaA.remember('dev_1:race'), replicaB.remember('dev_1:race')])).toEqual(expect.arrayContaining([true, false]));
    // Stale: its expiry passed, so the row is cleared by the next call and the nonce is new again.
    await database.db.update(deviceNonces).set({ expiresAt: new Date(Date.now() - 1000) }).where(eq(deviceNonces.key, 'dev_1:nonce-aaaaaaaaaaaaaaaa'));
    expect(await replicaB.remember('dev_1:nonce-aaaaaaaaaaaaaaaa')).toBe(true);
  });
});

describe(`approver invite command on ${dbKind}`, () => {
  it('prints the link and a terminal QR code', async () => {
    const { exitCode, stdout } = await approverInvite(database.db, URL_, { email: 'qr@example.com', role: 'ops' });
    expect(exitCode).toBe(0);
    expect(stdout).toMatch(new RegExp(`${URL_}/enroll/[A-Za-z0-9_-]{43}`));
    expect(stdout).toContain('(role ops)');
    expect(stdout).toMatch(/[▀▄█]/); // the small terminal QR uses half blocks
  });

  it('prints one JSON object with --json', async () => {
    const { exitCode, stdout } = await approverInvite(database.db, URL_, { email: 'json@example.com', json: true });
    expect(exitCode).toBe(0);
    expect(stdout.trim().split('\n')).toHaveLength(1);
    const parsed = JSON.parse(stdout) as { url: string; email: string; role: null; expiresAt: string };
    expect(parsed).toEqual({ url: expect.stringContaining('/enroll/'), email: 'json@example.com', role: null, expiresAt: expect.any(String) });
    const token = parsed.url.split('/').pop()!;
    expect((await inviteStatus(database.db, token)).state).toBe('valid');
  });
});

describe(`web challenges on ${dbKind}`, () => {
  it('are single use and bound to their purpose and subject', async () => {
    const id = await storeChallenge(database.db, 'register', 'c1', 'invite-a');
    expect(await takeChallenge(database.db, id, 'signin', 'invite-a')).toBeNull();
    const id2 = await storeChallenge(database.db, 'register', 'c2', 'invite-a');
    expect(await takeChallenge(database.db, id2, 'register', 'invite-b')).toBeNull();
    const id3 = await storeChallenge(database.db, 'signin', 'c3', null);
    const both = await Promise.all([takeChallenge(database.db, id3, 'signin', null), takeChallenge(database.db, id3, 'signin', null)]);
    expect(both.filter(Boolean)).toEqual(['c3']);
    expect(id).not.toBe(id2);
  });

  it('expire after five minutes', async () => {
    const id = await storeChallenge(database.db, 'signin', 'old', null);
    const [row] = await database.db.select().from(challenges).where(eq(challenges.id, id));
    expect(row.expiresAt.getTime() - Date.now()).toBeGreaterThan(4.9 * 60_000);
    await database.db.update(challenges).set({ expiresAt: new Date(Date.now() - 1) }).where(eq(challenges.id, id));
    expect(await takeChallenge(database.db, id, 'signin', null)).toBeNull();
  });
});

describe(`web sessions on ${dbKind}`, () => {
  it('stores the id hashed, finds live sessions, and stops finding revoked or expired ones', async () => {
    const { id, session } = await createSession(database.db, 'apr_1');
    expect(await findSession(database.db, id)).toEqual(session);
    const [row] = await database.db.select().from(sessions).where(eq(sessions.idHash, hashToken(id)));
    expect(row.approverId).toBe('apr_1');
    await revokeSession(database.db, id);
    expect(await findSession(database.db, id)).toBeNull();
    const other = await createSession(database.db, 'apr_1');
    expect(other.id).not.toBe(id);
    expect(other.session.csrfToken).not.toBe(session.csrfToken);
    await database.db.update(sessions).set({ expiresAt: new Date(Date.now() - 1) }).where(eq(sessions.idHash, hashToken(other.id)));
    expect(await findSession(database.db, other.id)).toBeNull();
  });
});

describe(`inbox and approval pages on the real kernel, ${dbKind}`, () => {
  // The web app on the router with the real kernel over this database; the pending request comes from a real
  // submission, so its summary and agent name are exactly what the connector and the kernel produced.
  let k: KernelFixture;
  let web: ReturnType<typeof createApprovalWeb>;
  let request: RequestView;
  let jane: FixtureApprover;
  let mallory: FixtureApprover;
  const hostile = '<script>alert(1)</script>"q"&';

  beforeAll(async () => {
    k = await startKernel({ database });
    web = createApprovalWeb({ port: k.port('web', CAPABILITIES.web), db: database.db, publicUrl: FIXTURE_URL });
    const agentId = await k.addAgent('deploy-bot', 'jane@example.com');
    jane = await k.enroll('jane@example.com');
    mallory = await k.enroll('mallory@example.com');
    request = await k.submit(agentId, 'test_write_note', { key: hostile, text: 'hello' });
    expect(request.state).toBe('pending');
  });
  afterAll(async () => {
    await k?.close();
  });

  const signedIn = async (approver: FixtureApprover) => {
    const { id, session } = await createSession(database.db, approver.id);
    return { cookie: `cs_session=${id}`, csrf: session.csrfToken, id };
  };

  it('sends a signed-out visitor to /signin', async () => {
    const response = await web.request('/');
    expect(response.status).toBe(303);
    expect(response.headers.get('location')).toBe('/signin');
  });

  it("lists the owner's pending request, escaping every piece of untrusted text; others do not see it", async () => {
    const { cookie, csrf } = await signedIn(jane);
    const response = await web.request('/', { headers: { cookie } });
    expect(response.status).toBe(200);
    const html = await response.text();
    expect(html).toContain(`/requests/${request.id}`);
    expect(html).toContain('Write note &quot;&lt;script&gt;alert(1)&lt;/script&gt;&quot;q&quot;&amp;&quot;');
    expect(html).toContain('Agent: deploy-bot');
    expect(html).toContain(`data-expires="${request.body.expiresAt}"`);
    expect(html).not.toContain('<script>alert');
    expect(html).toContain(`<meta name="csrf-token" content="${csrf}"/>`);
    const other = await web.request('/', { headers: { cookie: (await signedIn(mallory)).cookie } });
    expect(await other.text()).not.toContain(`/requests/${request.id}`);
  });

  it('refuses a decision posted by a signed-in approver who may not decide, at decide time (no challenge asked)', async () => {
    const { cookie, csrf } = await signedIn(mallory);
    const response = k.evidence(mallory, request.digest, 'approve');
    const posted = await web.request(`/requests/${request.id}/decide`, {
      method: 'POST',
      headers: { cookie, origin: FIXTURE_URL, 'content-type': 'application/json', 'x-csrf-token': csrf },
      body: JSON.stringify({ decision: 'approve', response }),
    });
    expect(posted.status).toBe(403);
    expect(((await posted.json()) as { error: { code: string } }).error.code).toBe('not_an_approver');
    const after = await k.admin.send<RequestView & JsonObject>('kernel', { op: 'request.get', requestId: request.id });
    expect(after.state).toBe('pending');
  });

  it("counts the owner's decision posted through the same route", async () => {
    const { cookie, csrf } = await signedIn(jane);
    const posted = await web.request(`/requests/${request.id}/decide`, {
      method: 'POST',
      headers: { cookie, origin: FIXTURE_URL, 'content-type': 'application/json', 'x-csrf-token': csrf },
      body: JSON.stringify({ decision: 'reject', reason: 'not today', response: k.evidence(jane, request.digest, 'reject') }),
    });
    // The reason is inside what the passkey signs: evidence made without it does not carry a reason added on the way.
    expect(posted.status).toBe(403);
    expect(((await posted.json()) as { error: { message: string } }).error.message).toMatch(/another reason/);
    const signed = await web.request(`/requests/${request.id}/decide`, {
      method: 'POST',
      headers: { cookie, origin: FIXTURE_URL, 'content-type': 'application/json', 'x-csrf-token': csrf },
      body: JSON.stringify({ decision: 'reject', reason: 'not today', response: k.evidence(jane, request.digest, 'reject', undefined, 'not today') }),
    });
    expect(signed.status).toBe(200);
    expect(await signed.json()).toMatchObject({ state: 'rejected' });
  });

  it('signs out with the session token and revokes server-side', async () => {
    const { cookie, csrf, id } = await signedIn(jane);
    const headers = { cookie, origin: FIXTURE_URL, 'content-type': 'application/x-www-form-urlencoded' };
    expect((await web.request('/signout', { method: 'POST', headers, body: '_csrf=wrong' })).status).toBe(403);
    expect(await findSession(database.db, id)).not.toBeNull();
    const out = await web.request('/signout', { method: 'POST', headers, body: `_csrf=${csrf}` });
    expect(out.status).toBe(303);
    expect(out.headers.get('set-cookie')).toMatch(/^cs_session=;/);
    expect(await findSession(database.db, id)).toBeNull();
  });
});
