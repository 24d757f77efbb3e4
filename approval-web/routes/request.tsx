import { Hono } from 'hono';
import { z } from 'zod';
import { KernelError, type ApprovalDecision, type JsonObject, type RequestView } from '../../kernel/index.ts';
import type { WebDeps, WebEnv } from '../context.ts';
import { problem } from '../problem.tsx';
import { requireApprover } from '../sessions.ts';
import { IntentDetails, approvalsCount } from '../views/intent.tsx';
import { render } from '../views/layout.tsx';
import { DecisionPanel, FinalState, outcomeMessage } from '../views/decision.tsx';
import { Value } from '../views/value.tsx';
import { readJson } from './body.ts';

/**
 * `/requests/:id`: the approval ceremony. The page shows the canonical intent; "Approve" and "Reject" each fetch
 * options whose challenge the kernel derives from the digest and the decision, run a passkey assertion, and post it
 * back here to become `approval.decide`. The kernel verifies it; an id, a session or a click alone grants nothing.
 */

const ID = /^[A-Za-z0-9_-]{1,64}$/;
const decisionBody = z.object({ decision: z.enum(['approve', 'reject']) });
const decideBody = z.object({
  decision: z.enum(['approve', 'reject']),
  reason: z.string().max(2000, { error: 'a reason of at most 2000 characters' }).nullable().optional(),
  response: z.looseObject({ id: z.string().min(1).max(1024), type: z.literal('public-key') }),
});

const NO_REQUEST = 'There is no request with this id. It may have been cancelled; go back to your inbox.';

/** Kernel refusals become 403/404/409-style problems with the kernel's own words; other errors propagate. */
function refusal(error: unknown): { status: 400 | 403 | 404 | 410; code: string; message: string } | null {
  if (!(error instanceof KernelError)) return null;
  const status = error.code === 'unknown_request' ? 404 : error.code === 'not_pending' ? 410 : error.code === 'bad_request' ? 400 : 403;
  return { status, code: error.code, message: error.message };
}

export function requestRoutes(deps: WebDeps): Hono<WebEnv> {
  const app = new Hono<WebEnv>();

  app.get('/requests/:id', requireApprover, async (c) => {
    const id = c.req.param('id');
    const request = ID.test(id) ? await deps.kernel.request(id) : null;
    if (!request) return problem(c, 404, 'unknown_request', NO_REQUEST);
    const approver = c.var.approver!;
    const mine = request.approvals.find((a) => a.approverId === approver.id) ?? null;
    // The kernel's inbox is the rule for who may decide; the page only offers buttons the kernel would accept.
    const eligible = request.state === 'pending' && !mine && (await deps.kernel.inbox(approver.id)).some((r) => r.id === id);
    return render(
      c,
      { title: 'Approve or reject', script: 'approve' },
      <article class="request" id="request" data-state={request.state}>
        <h1 id="summary">
          <Value text={request.intent.summary} />
        </h1>
        <Status request={request} />
        <IntentDetails request={request} />
        {request.state === 'pending' ? (
          <DecisionPanel request={request} eligible={eligible} mine={mine} />
        ) : (
          <FinalState request={request} />
        )}
        <p>
          <a href="/" class="back">
            Back to the inbox
          </a>
        </p>
      </article>,
    );
  });

  app.post('/requests/:id/options', requireApprover, async (c) => {
    const id = c.req.param('id');
    if (!ID.test(id)) return problem(c, 404, 'unknown_request', NO_REQUEST);
    const body = await readJson(c, decisionBody);
    if (!body.ok) return problem(c, 400, 'bad_request', body.message);
    try {
      const challenge = await deps.kernel.challenge(id, body.value.decision, c.var.approver!.id);
      const approver = c.var.approver!;
      const transports = new Map(approver.passkeys.map((p) => [p.id, p.transports]));
      return c.json({
        digest: challenge.digest,
        options: {
          challenge: challenge.challenge,
          rpId: challenge.rpId,
          allowCredentials: challenge.allowCredentials.map((credential) => ({ id: credential, type: 'public-key', transports: transports.get(credential) ?? [] })),
          userVerification: 'required',
          timeout: challenge.timeoutMs,
        },
      });
    } catch (error) {
      const refused = refusal(error);
      if (!refused) throw error;
      return problem(c, refused.status, refused.code, refused.message);
    }
  });

  app.post('/requests/:id/decide', requireApprover, async (c) => {
    const id = c.req.param('id');
    if (!ID.test(id)) return problem(c, 404, 'unknown_request', NO_REQUEST);
    const body = await readJson(c, decideBody);
    if (!body.ok) return problem(c, 400, 'bad_request', body.message);
    const approver = c.var.approver!;
    const { decision, response } = body.value;
    // A signed-in session may only send its own passkey's answers: an assertion lifted from someone else stays theirs.
    if (!approver.passkeys.some((p) => p.id === response.id)) {
      return problem(c, 403, 'not_your_passkey', 'This passkey is not one of yours. Use your own passkey to decide; sign in again if you switched accounts.');
    }
    const reason = body.value.reason?.trim() ? body.value.reason.trim() : null;
    let after: RequestView;
    try {
      after = await deps.kernel.decide(id, decision as ApprovalDecision, reason, response as unknown as JsonObject);
    } catch (error) {
      const refused = refusal(error);
      if (!refused) throw error;
      return problem(c, refused.status, refused.code, refused.message);
    }
    await deps.history.saw(approver.id, [id]);
    const { approved, required } = approvalsCount(after);
    return c.json({ state: after.state, approved, required, message: outcomeMessage(after, decision) });
  });

  return app;
}

function Status(props: { request: RequestView }) {
  const { request } = props;
  const expiresAt = request.body.expiresAt;
  return (
    <p class="status-line">
      <span class={`state state-${request.state}`} id="state">
        {request.state}
      </span>
      {request.state === 'pending' ? (
        <time class="countdown" id="countdown" datetime={expiresAt} data-expires={expiresAt}>
          expires {expiresAt}
        </time>
      ) : null}
    </p>
  );
}
