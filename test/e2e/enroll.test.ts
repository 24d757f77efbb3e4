import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import type { Browser, Page } from 'playwright-core';
import { createInvite } from '../../approval-web/index.ts';
import { invites } from '../../approval-web/schema.ts';
import { hashToken } from '../../approval-web/invites.ts';
import { addVirtualAuthenticator, launchBrowser, phoneContext, screenshot } from '../support/browser.ts';
import { startWebHarness, type WebHarness } from './web-harness.ts';

const EMAIL = 'jane@example.com';

let harness: WebHarness;
let browser: Browser;

beforeAll(async () => {
  harness = await startWebHarness();
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await harness?.close();
});

async function phone(): Promise<Page> {
  const context = await phoneContext(browser);
  return context.newPage();
}

async function enroll(page: Page, url: string): Promise<void> {
  await page.goto(url);
  await page.getByRole('button', { name: 'Create passkey' }).click();
  await page.waitForURL(`${harness.url}/`);
}

describe('passkey enrollment and sign-in in Chromium', () => {
  it('enrolls with an invite, signs out, and signs back in with the passkey', async () => {
    const page = await phone();
    const authenticator = await addVirtualAuthenticator(page);
    const invite = await createInvite(harness.database.db, { email: EMAIL, role: 'finance', publicUrl: harness.url });

    await page.goto(invite.url);
    await expect(page.getByRole('heading', { name: 'Create your passkey' }).isVisible()).resolves.toBe(true);
    await expect(page.locator('.sandbox-banner').textContent()).resolves.toContain('SANDBOX');
    await screenshot(page, 'enroll-390x844');

    await page.getByRole('button', { name: 'Create passkey' }).click();
    await page.waitForURL(`${harness.url}/`);
    await expect(page.locator('header .who').textContent()).resolves.toContain(EMAIL);

    const credentials = await authenticator.credentials();
    expect(credentials).toHaveLength(1);
    expect(credentials[0].isResidentCredential).toBe(true);
    const approver = await harness.admin.send<{ id: string; roles: string[]; passkeys: { id: string }[] }>('kernel', {
      op: 'approver.get',
      email: EMAIL,
      approverId: null,
    });
    expect(approver.roles).toEqual(['finance']);
    expect(approver.passkeys).toHaveLength(1);

    // The cookie is the plain-http variant: HttpOnly, SameSite=Strict, Path=/ (no Secure/__Host- on http://localhost).
    const cookies = await page.context().cookies();
    const session = cookies.find((cookie) => cookie.name === 'cs_session');
    expect(session).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/' });

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(`${harness.url}/signin`);
    // The old session id no longer opens anything, even replayed by hand.
    const replay = await fetch(`${harness.url}/`, { headers: { cookie: `cs_session=${session!.value}` }, redirect: 'manual' });
    expect(replay.status).toBe(303);
    expect(replay.headers.get('location')).toBe('/signin');

    await page.getByRole('button', { name: 'Sign in with passkey' }).click();
    await page.waitForURL(`${harness.url}/`);
    await expect(page.locator('header .who').textContent()).resolves.toContain(EMAIL);
    const after = (await page.context().cookies()).find((cookie) => cookie.name === 'cs_session');
    expect(after?.value).toBeTruthy();
    expect(after?.value).not.toBe(session!.value);
    const [credential] = await authenticator.credentials();
    expect(credential.signCount).toBeGreaterThan(0);
  });

  it('lists pending requests in the inbox with agent, rule and a live countdown', async () => {
    const pending = await harness.submitForApproval(EMAIL, 12000);
    expect(pending.state).toBe('pending');
    const page = await phone();
    await addVirtualAuthenticator(page);
    // A second invite for the same email adds a second passkey (a new device) to the same approver.
    const invite = await createInvite(harness.database.db, { email: EMAIL, publicUrl: harness.url });
    await enroll(page, invite.url);
    const approver = await harness.admin.send<{ roles: string[]; passkeys: { id: string }[] }>('kernel', {
      op: 'approver.get',
      email: EMAIL,
      approverId: null,
    });
    expect(approver.passkeys).toHaveLength(2);
    expect(approver.roles).toEqual(['finance']);

    const item = page.locator('#inbox li').first();
    await expect(item.locator('.summary').textContent()).resolves.toBe('Refund $120.00 USD to Jane Doe on charge ch_1');
    await expect(item.locator('.meta').textContent()).resolves.toContain('Agent: agent-1');
    await page.waitForFunction(() => /left$/.test(document.querySelector('.countdown')?.textContent ?? ''));
    await screenshot(page, 'inbox-390x844');
    await item.locator('a').click();
    await page.waitForURL(`${harness.url}/requests/${pending.id}`);
    await expect(page.locator('h1').textContent()).resolves.toContain('Refund $120.00');
  });

  it('accepts an invite link once; a used or expired link shows a clear page', async () => {
    const page = await phone();
    await addVirtualAuthenticator(page);
    const invite = await createInvite(harness.database.db, { email: 'sam@example.com', publicUrl: harness.url });
    await enroll(page, invite.url);

    const other = await phone();
    await addVirtualAuthenticator(other);
    const used = await other.goto(invite.url);
    expect(used?.status()).toBe(410);
    await expect(other.locator('#invite-invalid').textContent()).resolves.toContain('already been used');
    await expect(other.getByRole('button', { name: 'Create passkey' }).count()).resolves.toBe(0);

    const stale = await createInvite(harness.database.db, { email: 'kim@example.com', publicUrl: harness.url });
    await harness.database.db.update(invites).set({ expiresAt: new Date(Date.now() - 1000) }).where(eq(invites.tokenHash, hashToken(stale.token)));
    const expired = await other.goto(stale.url);
    expect(expired?.status()).toBe(410);
    await expect(other.locator('#invite-invalid').textContent()).resolves.toContain('expired');
    await screenshot(other, 'invite-expired-390x844');

    // The page was open before it expired: pressing the button now is refused too, with the same words.
    const racing = await createInvite(harness.database.db, { email: 'lee@example.com', publicUrl: harness.url });
    await other.goto(racing.url);
    await harness.database.db.update(invites).set({ expiresAt: new Date(Date.now() - 1000) }).where(eq(invites.tokenHash, hashToken(racing.token)));
    await other.getByRole('button', { name: 'Create passkey' }).click();
    // The status first says to follow the device's prompt; the refusal replaces it once the server answers.
    await expect.poll(() => other.locator('#status').textContent(), { timeout: 10_000 }).toMatch(/expired/);
    const lee = await harness.admin.send('kernel', { op: 'approver.get', email: 'lee@example.com', approverId: null });
    expect(lee).toBeNull();
  });

  it('refuses a cross-site POST and serves a strict CSP with a nonce and no inline script', async () => {
    const page = await phone();
    const response = await page.goto(`${harness.url}/signin`);
    const csp = response!.headers()['content-security-policy'];
    const nonce = /'nonce-([^']+)'/.exec(csp)?.[1];
    expect(nonce).toBeTruthy();
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain(`script-src 'nonce-${nonce}' 'strict-dynamic'`);
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('unsafe-inline');
    const scripts = await page.locator('script').evaluateAll((nodes) =>
      nodes.map((node) => ({ src: node.getAttribute('src'), inline: (node.textContent ?? '').trim().length > 0, nonce: (node as HTMLScriptElement).nonce })),
    );
    expect(scripts.length).toBeGreaterThan(0);
    for (const script of scripts) expect(script).toEqual({ src: expect.stringMatching(/^\/assets\/signin\.[0-9a-f]{12}\.js$/), inline: false, nonce });
    const second = await fetch(`${harness.url}/signin`);
    expect(second.headers.get('content-security-policy')).not.toContain(nonce);

    // A page on another site posts to sign-out and to the sign-in endpoints: both refused before any handler runs.
    const attacker = await fetch(`${harness.url}/signout`, {
      method: 'POST',
      headers: { origin: 'https://evil.example', 'content-type': 'application/x-www-form-urlencoded' },
      body: '_csrf=x',
      redirect: 'manual',
    });
    expect(attacker.status).toBe(403);
    const json = await fetch(`${harness.url}/signin/options`, {
      method: 'POST',
      headers: { origin: 'https://evil.example', 'content-type': 'application/json', accept: 'application/json' },
      body: '{}',
    });
    expect(json.status).toBe(403);
    expect(((await json.json()) as { error: { code: string } }).error.code).toBe('cross_origin');

    // And from the real page, a form whose CSRF token was tampered with is refused as well.
    await page.evaluate(() => {
      const meta = document.querySelector<HTMLMetaElement>('meta[name="csrf-token"]');
      if (meta) meta.content = 'tampered';
    });
    await addVirtualAuthenticator(page);
    await page.getByRole('button', { name: 'Sign in with passkey' }).click();
    await expect.poll(() => page.locator('#status').textContent(), { timeout: 10_000 }).toMatch(/Reload the page/);
  });
});
