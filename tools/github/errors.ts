import { KernelError } from '../../kernel/index.ts';

/**
 * GitHub's failures, each turned into KernelError('upstream_error') with what went wrong and what to do.
 * The original error is not kept as `cause`: it holds request headers, and the message must be all anyone needs.
 */

interface OctokitLikeError {
  status?: unknown;
  message?: unknown;
  response?: { headers?: Record<string, string | number | undefined>; data?: unknown };
  cause?: unknown;
}

/** Removes the token from any text, in case an upstream message or URL ever echoes it. */
export function redact(text: string, token: string): string {
  return token ? text.split(token).join('[REDACTED]') : text;
}

function githubMessage(data: unknown): string {
  if (!data || typeof data !== 'object') return typeof data === 'string' ? data.slice(0, 300) : '';
  const body = data as { message?: unknown; errors?: unknown };
  let message = typeof body.message === 'string' ? body.message : '';
  if (Array.isArray(body.errors) && body.errors.length) {
    const parts = body.errors.map((e: unknown) => {
      if (typeof e === 'string') return e;
      const x = (e ?? {}) as Record<string, unknown>;
      if (typeof x.message === 'string') return x.message;
      return [x.resource, x.field, x.code].filter((v) => typeof v === 'string').join(' ');
    });
    message += `: ${parts.join('; ')}`;
  }
  return message;
}

function seconds(value: unknown): number | undefined {
  const n = Number(value);
  return Number.isFinite(n) && n >= 0 ? Math.ceil(n) : undefined;
}

/** The KernelError for a failed upstream call made while doing `what`. */
export function upstreamError(error: unknown, what: string, ctx: { token: string; baseUrl: string }): KernelError {
  const e = (error ?? {}) as OctokitLikeError;
  const status = typeof e.status === 'number' ? e.status : 0;
  const clean = (s: string) => redact(s, ctx.token);
  if (!e.response) {
    const reason = e.cause instanceof Error ? e.cause.message : typeof e.message === 'string' ? e.message : String(error);
    return new KernelError(
      'upstream_error',
      clean(`Could not reach GitHub at ${ctx.baseUrl} while ${what} (${reason}). Check the network (or that the sandbox is running) and retry.`),
      { status: 0 },
    );
  }
  const headers = e.response.headers ?? {};
  const said = clean(githubMessage(e.response.data) || (typeof e.message === 'string' ? e.message : ''));
  const upstream = `${status}${said ? ` "${said}"` : ''}`;
  const details: Record<string, unknown> = { status, githubMessage: said };
  const fail = (message: string) => new KernelError('upstream_error', clean(message), details);

  const retryAfter = seconds(headers['retry-after']);
  const reset = seconds(headers['x-ratelimit-reset']);
  if (status === 429 || (status === 403 && (retryAfter !== undefined || String(headers['x-ratelimit-remaining']) === '0'))) {
    const wait = retryAfter ?? (reset !== undefined ? Math.max(0, reset - Math.floor(Date.now() / 1000)) : 60);
    details.retryAfterSeconds = wait;
    return fail(`GitHub is rate limiting this token (${upstream}) while ${what}. Retry after ${wait} seconds.`);
  }
  switch (status) {
    case 401:
      return fail(`GitHub rejected the credentials (${upstream}) while ${what}. Check that GITHUB_TOKEN holds a valid, unexpired token.`);
    case 403:
      return fail(`GitHub refused ${what} (${upstream}): the token lacks permission. Give the token access to this repository (scopes or fine-grained permissions), or ask a repository admin.`);
    case 404:
      return fail(`GitHub found nothing while ${what} (${upstream}). Check the owner, repository, number or name; a private repository the token cannot see also looks like this.`);
    case 405:
      return fail(`GitHub would not allow ${what} (${upstream}). Check that it is open, not a draft, and that its required checks and reviews are satisfied.`);
    case 409:
      return fail(`GitHub refused ${what} because the state changed (${upstream}). Read it again, review what changed, and make a new request.`);
    case 422:
      return fail(`GitHub rejected the input for ${what} (${upstream}). Fix the arguments and make a new request.`);
  }
  if (status >= 500) {
    return fail(`GitHub failed while ${what} (${upstream}). The problem is on GitHub's side; for a write, check whether it happened before retrying.`);
  }
  return fail(`GitHub answered ${upstream} while ${what}. Check the arguments and the token, then retry.`);
}

/**
 * A write (any method but GET/HEAD) whose answer does not say whether GitHub acted (no answer, 5xx) is
 * `upstream_unknown`: the kernel looks for it upstream (its marker) before anything runs again, and otherwise its owner
 * decides. Reported as failed, it would be asked again by the agent as a new request: a second issue, comment or release.
 */
export function lostWrite(error: unknown, known: KernelError): KernelError {
  const method = ((error ?? {}) as { request?: { method?: string } }).request?.method?.toUpperCase();
  const status = Number(known.details?.status ?? 0);
  if (known.code !== 'upstream_error' || !method || method === 'GET' || method === 'HEAD' || (status > 0 && status < 500)) return known;
  return new KernelError('upstream_unknown', `${known.message.replace(/ The problem is on GitHub's side;.*$/, '')} Whether GitHub acted is not known; Countersign looks for it upstream before anything runs again.`, { ...known.details });
}
