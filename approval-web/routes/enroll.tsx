import { Hono } from 'hono';
import { KernelError } from '../../kernel/index.ts';
import type { WebDeps, WebEnv } from '../context.ts';
import { hashToken } from '../invites.ts';
import { problem } from '../problem.tsx';
import { signIn } from '../sessions.ts';
import { render } from '../views/layout.tsx';
import { registrationOptions, relyingParty, verifyRegistration } from '../webauthn.ts';
import { ceremonyReply, readJson } from './body.ts';

const TOKEN = /^[A-Za-z0-9_-]{43}$/;

const gone = {
  unknown: 'This enrollment link is not valid. Check that you copied the whole link, or ask for a new one.',
  used: 'This enrollment link has already been used. Each link works once; ask for a new one to add another passkey.',
  expired: 'This enrollment link has expired. Ask the administrator for a new one (countersign approver invite EMAIL).',
} as const;

/** `/enroll/:token`: the page, then registration options and verification. The invite is used up only on success. */
export function enrollRoutes(deps: WebDeps): Hono<WebEnv> {
  const app = new Hono<WebEnv>();
  const rp = relyingParty(deps.publicUrl);

  app.get('/enroll/:token', async (c) => {
    const token = c.req.param('token');
    const status = TOKEN.test(token) ? await deps.store.inviteStatus(token) : ({ state: 'unknown' } as const);
    if (status.state !== 'valid') {
      return render(
        c,
        { title: 'Enrollment link not valid', status: status.state === 'unknown' ? 404 : 410 },
        <div class="notice error" role="alert" id="invite-invalid" data-state={status.state}>
          <h1>{status.state === 'expired' ? 'This link has expired' : status.state === 'used' ? 'This link was already used' : 'Link not valid'}</h1>
          <p>{gone[status.state]}</p>
        </div>,
      );
    }
    return render(
      c,
      { title: 'Create your passkey', script: 'enroll' },
      <section>
        <h1>Create your passkey</h1>
        <p class="lead">
          You are enrolling as <span class="email">{status.email}</span>
          {status.role ? <> with the role <strong>{status.role}</strong></> : null}. Your passkey is how you approve what AI agents ask to do.
        </p>
        <p>Your device will ask for your fingerprint, face or screen lock. Nothing leaves the device but a public key.</p>
        <button type="button" id="create-passkey" data-url={`/enroll/${token}`}>
          Create passkey
        </button>
        <div id="status" role="status" aria-live="polite" hidden></div>
      </section>,
    );
  });

  app.post('/enroll/:token/options', async (c) => {
    const token = c.req.param('token');
    const status = TOKEN.test(token) ? await deps.store.inviteStatus(token) : ({ state: 'unknown' } as const);
    if (status.state !== 'valid') return problem(c, status.state === 'unknown' ? 404 : 410, `invite_${status.state}`, gone[status.state]);
    const approver = await deps.kernel.approverByEmail(status.email);
    const options = await registrationOptions(rp, status.email, approver?.passkeys ?? []);
    const challengeId = await deps.store.storeChallenge('register', options.challenge, hashToken(token));
    return c.json({ challengeId, options });
  });

  app.post('/enroll/:token/verify', async (c) => {
    const token = c.req.param('token');
    if (!TOKEN.test(token)) return problem(c, 404, 'invite_unknown', gone.unknown);
    const body = await readJson(c, ceremonyReply);
    if (!body.ok) return problem(c, 400, 'bad_request', body.message);
    const challenge = await deps.store.takeChallenge(body.value.challengeId, 'register', hashToken(token));
    if (!challenge) return problem(c, 400, 'challenge_expired', 'This passkey prompt expired or was already used. Press "Create passkey" again.');
    let credential;
    try {
      credential = await verifyRegistration(rp, challenge, body.value.response);
    } catch (error) {
      return problem(c, 400, 'evidence_refused', error instanceof KernelError ? error.message : String(error));
    }
    // Claim only after the passkey verified, so a failed ceremony leaves the link usable.
    const invite = await deps.store.claimInvite(token);
    if (!invite) {
      const status = await deps.store.inviteStatus(token);
      return problem(c, 410, 'invite_gone', status.state === 'valid' ? gone.used : gone[status.state]);
    }
    try {
      const existing = await deps.kernel.approverByEmail(invite.email);
      const roles = [...new Set([...(existing?.roles ?? []), ...(invite.role ? [invite.role] : [])])];
      const approver = await deps.kernel.upsertApprover(invite.email, roles);
      await deps.kernel.addPasskey(approver.id, credential);
      await signIn(c, deps, approver.id);
    } catch (error) {
      await deps.store.releaseInvite(token);
      const message = error instanceof KernelError ? error.message : String(error);
      return problem(c, 502, 'kernel_refused', `Countersign could not save the passkey: ${message}. The link still works; try again.`);
    }
    return c.json({ redirect: '/' });
  });

  return app;
}
