import { Hono } from 'hono';
import { z } from 'zod';
import { KernelError, type ApprovalDecision, type JsonObject, type RequestView } from '../../kernel/index.ts';
import type { WebDeps, WebEnv } from '../context.ts';
import { problem } from '../problem.tsx';
import { requireApprover } from '../sessions.ts';
import { fingerprint } from '../hygiene.ts';
import { DecisionHead, IntentDetails, approvalsCount, quorumLine } from '../views/intent.tsx';
import { render } from '../views/layout.tsx';
import { ActionBar, FinalState, Progress, UnknownPanel, outcomeMessage } from '../views/decision.tsx';
import { readJson } from './body.ts';

/**
 * `/requests/:id`: the approval ceremony. The page shows the canonical intent; "Approve" and "Reject" each fetch
 * options whose challenge the kernel derives from the digest and the decision, run a passkey assertion, and post it
 * back here to become `approval.decide`. The kernel verifies it; an id, a session or a click alone grants nothing.
 */

const ID = /^[A-Za-z0-9_-]{1,64}$/;
const DECISIONS = ['approve', 'reject', 'mark_done', 'run_again'] as const;
const reasonField = z.string().max(2000, { error: 'a reason of at most 2000 characters' }).nullable().optional();
const decisionBody = z.object({ decision: z.enum(DECISIONS), reason: reasonField });
/** The reason as signed: trimmed, and none when empty. Options and decision must agree, or the evidence will not verify. */
const reasonOf = (reason: string | null | undefined) => (reason?.trim() ? reason.trim() : null);
const decideBody = z.object({
  decision: z.enum(DECISIONS),
  reason: reasonField,
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
    const approver = c.var.approver!;
    // Only whoever may decide it, its agent's owner and auditors see a request; to anyone else it does not exist.
    const request = ID.test(id) ? await deps.kernel.request(id, approver.id) : null;
    if (!request) return problem(c, 404, 'unknown_request', NO_REQUEST);
    const mine = request.approvals.find((a) => a.approverId === approver.id) ?? null;
    // The kernel's inbox is the rule for who may decide; the page only offers buttons the kernel would accept.
    const unknown = request.state === 'unknown' && request.error?.code === 'outcome_unknown';
    const eligible = (request.state === 'pending' || unknown) && !mine && (await deps.kernel.inbox(approver.id)).some((r) => r.id === id);
    const role = request.verdict.approvers?.role;
    const eligibleEmails = !role ? [] : role === 'owner' ? [request.body.principal.owner] : await deps.approversOf(role);
    const pending = request.state === 'pending';
    return render(
      c,
      { title: 'Approve or reject', script: 'approve' },
      <article class={`request${pending && !unknown ? ' has-bar' : ''}`} id="request" data-state={request.state} data-id={request.id}>
        <DecisionHead request={request} status={<Status request={request} />} />
        {unknown ? <UnknownPanel request={request} eligible={eligible} /> : pending ? null : <FinalState request={request} />}
        <IntentDetails request={request} progress={<Progress request={request} eligible={eligibleEmails} />} />
        <p>
          <a href="/" class="back">
            Back to the inbox
          </a>
        </p>
        {pending && !unknown ? <ActionBar request={request} eligible={eligible} mine={mine} /> : null}
      </article>,
    );
  });

  app.post('/requests/:id/options', requireApprover, async (c) => {
    const id = c.req.param('id');
    if (!ID.test(id)) return problem(c, 404, 'unknown_request', NO_REQUEST);
    const body = await readJson(c, decisionBody);
    if (!body.ok) return problem(c, 400, 'bad_request', body.message);
    try {
      const challenge = await deps.kernel.challenge(id, body.value.decision, c.var.approver!.id, reasonOf(body.value.reason));
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
    const reason = reasonOf(body.value.reason);
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

/** State, time left, approvals so far and the digest's fingerprint: one line under the headline. */
function Status(props: { request: RequestView }) {
  const { request } = props;
  const expiresAt = request.body.expiresAt;
  return (
    <p class="status-line" id="status-line">
      <span class={`state state-${request.state}`} id="state">
        {request.state}
      </span>
      {request.state === 'pending' ? (
        <time class="countdown" id="countdown" datetime={expiresAt} data-expires={expiresAt}>
          expires {expiresAt}
        </time>
      ) : null}
      {request.state === 'pending' && request.verdict.approvers ? (
        <span class="quorum" id="quorum">
          {quorumLine(request)}
        </span>
      ) : null}
      <span class="print" title="The request's fingerprint: a paired Passport shows the same">
        <span class="print-label">Fingerprint</span> <code class="fingerprint">{fingerprint(request.digest)}</code>
      </span>
    </p>
  );
}
