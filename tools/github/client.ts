import { Octokit } from '@octokit/rest';
import { KernelError } from '../../kernel/index.ts';
import { lostWrite, upstreamError } from './errors.ts';

/**
 * The one door to GitHub. Every upstream call goes through `call`, so every failure becomes a KernelError with a
 * clear message, and the token stays inside this closure (never in a message, a result or a log line).
 */
export interface GithubClient {
  /** Base URL in use (the sandbox's when sandboxed); safe to show. */
  readonly baseUrl: string;
  /** Runs one upstream call; `what` names it in error messages ("merging PR #42 of acme/web"). */
  call<T>(what: string, fn: (octokit: Octokit) => Promise<T>): Promise<T>;
  /** Like `call`, but a 404 (or `alsoMissing` statuses) means "not there" and gives null. */
  find<T>(what: string, fn: (octokit: Octokit) => Promise<T>, alsoMissing?: number[]): Promise<T | null>;
}

export interface GithubClientOptions {
  token?: string;
  baseUrl?: string;
  sandbox: boolean;
}

const SANDBOX_TOKEN = 'countersign-sandbox';

/** Builds the client; a real (non-sandbox) connector needs a token and refuses to start without one. */
export function createGithubClient(options: GithubClientOptions): GithubClient {
  const token = options.token?.trim() || (options.sandbox ? SANDBOX_TOKEN : '');
  if (!token) {
    throw new KernelError(
      'config_error',
      'The GitHub connector has no token. Set GITHUB_TOKEN (or connectors.github.token: env:NAME in the config), or run it against the sandbox.',
    );
  }
  if (options.sandbox && !options.baseUrl) {
    throw new KernelError('config_error', 'The GitHub connector is in sandbox mode but has no baseUrl: start the sandbox and pass its url.');
  }
  const baseUrl = (options.baseUrl ?? 'https://api.github.com').replace(/\/+$/, '');
  const octokit = new Octokit({
    auth: token,
    baseUrl,
    userAgent: 'countersign-github-connector',
    // Octokit logs deprecations and request warnings itself; our errors already say everything, without headers.
    log: { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} },
    request: { retries: 0 },
  });

  async function call<T>(what: string, fn: (o: Octokit) => Promise<T>): Promise<T> {
    try {
      return await fn(octokit);
    } catch (error) {
      throw lostWrite(error, upstreamError(error, what, { token, baseUrl }));
    }
  }

  return {
    baseUrl,
    call,
    async find<T>(what: string, fn: (o: Octokit) => Promise<T>, alsoMissing: number[] = []): Promise<T | null> {
      try {
        return await call(what, fn);
      } catch (error) {
        const status = error instanceof KernelError ? error.details?.status : undefined;
        if (status === 404 || (typeof status === 'number' && alsoMissing.includes(status))) return null;
        throw error;
      }
    },
  };
}
