import { Hono } from 'hono';
import { KernelError } from '../../kernel/index.ts';
import type { WebDeps, WebEnv } from '../context.ts';
import { problem } from '../problem.tsx';
import { clearSessionCookie, safeNext, signIn } from '../sessions.ts';
import { render } from '../views/layout.tsx';
import { relyingParty, signInOptions, verifySignIn } from '../webauthn.ts';
import { z } from 'zod';
import { ceremonyReply, readJson } from './body.ts';

const signInReply = ceremonyReply.extend({ next: z.string().max(512).nullable().optional() });

const NOT_REGISTERED = 'This passkey is not registered with Countersign (or was removed). Ask an administrator for an enrollment link.';

/** `/signin` with a discoverable passkey only, and `POST /signout`, which revokes the session server-side. */
export function signInRoutes(deps: WebDeps): Hono<WebEnv> {
  const app = new Hono<WebEnv>();
  const rp = relyingParty(deps.publicUrl);

  app.get('/signin', (c) => {
    const next = safeNext(c.req.query('next'));
    if (c.var.approver) return c.redirect(next ?? '/', 303);
    return render(
      c,
      { title: 'Sign in', script: 'signin' },
      <section>
        <h1>Sign in</h1>
        <p class="lead">Use the passkey you created when you enrolled. Your device will ask for your fingerprint, face or screen lock.</p>
        {next ? <p class="notice">Sign in to open the page you followed a link to.</p> : null}
        <button type="button" id="sign-in" data-next={next ?? undefined}>
          Sign in with passkey
        </button>
        <div id="status" role="status" aria-live="polite" hidden></div>
        <p class="empty">No passkey yet? Ask an administrator for an enrollment link.</p>
      </section>,
    );
  });

  app.post('/signin/options', async (c) => {
    const options = await signInOptions(rp);
    const challengeId = await deps.store.storeChallenge('signin', options.challenge, null);
    return c.json({ challengeId, options });
  });

  app.post('/signin/verify', async (c) => {
    const body = await readJson(c, signInReply);
    if (!body.ok) return problem(c, 400, 'bad_request', body.message);
    const challenge = await deps.store.takeChallenge(body.value.challengeId, 'signin', null);
    if (!challenge) return problem(c, 400, 'challenge_expired', 'This sign-in prompt expired or was already used. Press "Sign in with passkey" again.');
    const passkey = await deps.kernel.lookupPasskey(body.value.response.id);
    if (!passkey || passkey.removedAt) return problem(c, 403, 'unknown_passkey', NOT_REGISTERED);
    let newCounter: number;
    try {
      newCounter = await verifySignIn(rp, challenge, body.value.response, passkey);
    } catch (error) {
      return problem(c, 403, 'evidence_refused', error instanceof KernelError ? error.message : String(error));
    }
    // Compare-and-swap: if another sign-in moved the counter meanwhile, one of the two is a replay or a clone.
    if (!(await deps.kernel.touchPasskey(passkey.id, passkey.counter, newCounter))) {
      return problem(c, 403, 'counter_mismatch', 'This passkey was used elsewhere at the same moment, or it may have been copied. Try again; if it keeps happening, tell an administrator.');
    }
    await signIn(c, deps, passkey.approverId);
    return c.json({ redirect: safeNext(body.value.next) ?? '/' });
  });

  app.post('/signout', async (c) => {
    if (c.var.sessionId) await deps.store.revokeSession(c.var.sessionId);
    clearSessionCookie(c, deps.sessionCookie);
    return c.redirect('/signin', 303);
  });

  return app;
}
