import type { Context } from 'hono';
import type { WebEnv } from './context.ts';
import { render } from './views/layout.tsx';

type ProblemStatus = 400 | 403 | 404 | 409 | 410 | 413 | 429 | 500 | 502;

/**
 * The web app's one error edge: JSON `{error: {code, message}}` for page scripts, a plain page for navigations.
 * Messages say what was wrong and what to do.
 */
export function problem(c: Context<WebEnv>, status: ProblemStatus, code: string, message: string): Response | Promise<Response> {
  const wantsJson =
    (c.req.header('accept') ?? '').includes('application/json') || (c.req.header('content-type') ?? '').includes('application/json');
  if (wantsJson || !c.var.assets) return c.json({ error: { code, message } }, status);
  return render(
    c,
    { title: 'Something went wrong', status },
    <div class="notice error" role="alert">
      <h1>{headline(status)}</h1>
      <p>{message}</p>
      <p>
        <a href="/">Back to the start</a>
      </p>
    </div>,
  );
}

function headline(status: ProblemStatus): string {
  if (status === 403) return 'Refused';
  if (status === 404) return 'Not found';
  if (status === 410) return 'No longer valid';
  if (status === 400 || status === 409 || status === 413) return 'That did not work';
  if (status === 429) return 'Too many attempts';
  return 'Something went wrong';
}
