import { Hono } from 'hono';
import type { WebDeps, WebEnv } from '../context.ts';
import { problem } from '../problem.tsx';
import { requireApprover } from '../sessions.ts';
import { render } from '../views/layout.tsx';

/**
 * `/requests/:id`: one request. This is the read-only shell; the approval ceremony ("Approve", "Reject" with a passkey
 * over the digest) replaces the body of this route in part 2, keeping the path and the sign-in guard.
 */
export function requestRoutes(deps: WebDeps): Hono<WebEnv> {
  const app = new Hono<WebEnv>();
  app.get('/requests/:id', requireApprover, async (c) => {
    const request = await deps.kernel.request(c.req.param('id'));
    if (!request) return problem(c, 404, 'unknown_request', 'There is no request with this id. It may have been cancelled; go back to your inbox.');
    return render(
      c,
      { title: 'Request' },
      <section>
        <h1>{request.intent?.summary ?? '(no summary)'}</h1>
        <p>
          State: <strong>{request.state}</strong>
        </p>
        <p>
          Digest: <code>{request.digest}</code>
        </p>
        <p>
          <a href="/">Back to the inbox</a>
        </p>
      </section>,
    );
  });
  return app;
}
