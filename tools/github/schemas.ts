import { z } from 'zod';

/**
 * Argument vocabulary shared by the GitHub tools, with GitHub's own parameter names. Patterns follow GitHub's
 * naming rules, so a typo fails here with a clear message instead of as an upstream 404.
 */

export const owner = z
  .string()
  .regex(/^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$/, 'owner must be a GitHub user or organisation name: letters, digits and hyphens, at most 39')
  .describe('Account that owns the repository (user or organisation), e.g. "acme" in acme/web');
export const repo = z
  .string()
  .regex(/^[A-Za-z0-9._-]{1,100}$/, 'repo must be a repository name: letters, digits, ".", "_" and "-", at most 100')
  .refine((r) => r !== '.' && r !== '..', 'repo cannot be "." or ".."')
  .describe('Repository name without its owner, e.g. "web" in acme/web');

/** A branch name as git accepts it (no spaces, "..", "~^:?*[\\", control characters, or a trailing ".lock"). */
export const branch = z
  .string()
  .min(1)
  .max(255)
  .regex(
    /^(?!\/|.*(?:\/\/|\/\.|\.\.|@\{))[^\x00-\x20\x7f~^:?*[\\]+(?<![/.]|\.lock)$/,
    'must be a valid git branch name (no spaces, "..", "~", "^", ":", "?", "*", "[", "\\", not ending in "/", "." or ".lock")',
  );

export const sha = z.string().regex(/^[0-9a-f]{40}$/, 'must be a full 40-character commit SHA in lowercase hex');
export const number = z.number().int().positive().max(2_147_483_647);
export const perPage = z.number().int().min(1).max(100).optional().describe('Results per page, 1 to 100 (default 30)');
export const cursor = z.string().min(1).max(200).optional().describe('The next_cursor of a previous call, to read the next page');
export const listState = z.enum(['open', 'closed', 'all']).optional().describe('Filter by state (default open)');
export const ownerRepo = { owner, repo };
export const pullNumber = number.describe('Pull request number, as in /pull/42');
