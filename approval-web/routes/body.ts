import type { Context } from 'hono';
import { z } from 'zod';

/** What the page scripts post back after a WebAuthn ceremony. */
export const ceremonyReply = z.object({
  challengeId: z.string().min(1).max(64),
  response: z.looseObject({ id: z.string().min(1).max(1024), type: z.literal('public-key') }),
});
export type CeremonyReply = z.infer<typeof ceremonyReply>;

/** How a refusal reads: pages tell a person to reload; API callers are told what the call takes. */
export interface BodyWords {
  notJson: string;
  wrongShape: string;
}

const PAGE_WORDS: BodyWords = { notJson: 'The request body is not JSON. Reload the page and try again.', wrongShape: 'The request body is not what this page sends' };

/** Parses a JSON body; returns a message that says what to fix instead of throwing on bad input. */
export async function readJson<T>(c: Context, schema: z.ZodType<T>, words: BodyWords = PAGE_WORDS): Promise<{ ok: true; value: T } | { ok: false; message: string }> {
  let raw: unknown;
  try {
    raw = await c.req.json();
  } catch {
    return { ok: false, message: words.notJson };
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) return { ok: false, message: `${words.wrongShape}: ${z.prettifyError(parsed.error)}` };
  return { ok: true, value: parsed.data };
}

/**
 * Parses a form body (urlencoded or multipart); a body that does not parse as the form its Content-Type names (a
 * multipart without its boundary, a cut-off part) is a refusal that says so, not an exception (found by the long fuzz:
 * it was a 500, before any sign-in).
 */
export async function readForm(c: Context): Promise<{ ok: true; value: Record<string, unknown> } | { ok: false; message: string }> {
  try {
    return { ok: true, value: await c.req.parseBody() };
  } catch {
    const type = (c.req.header('content-type') ?? '').split(';')[0]!.trim().slice(0, 60);
    return { ok: false, message: `The request body is not a valid ${type || 'form'} body. Reload the page and send the form again.` };
  }
}
