import { KernelError } from '../../kernel/index.ts';

/**
 * Opaque list cursors. GitHub paginates by page number in its `Link` header; the cursor carries that page and the
 * list it belongs to, so a cursor handed to the wrong tool fails clearly instead of reading the wrong list.
 */

interface CursorBody {
  v: 1;
  list: string;
  page: number;
}

/** The page a cursor points at (1 when there is none). */
export function pageOf(list: string, cursor: string | undefined): number {
  if (cursor === undefined) return 1;
  let body: Partial<CursorBody> | null = null;
  try {
    body = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as Partial<CursorBody>;
  } catch {
    body = null;
  }
  if (!body || body.v !== 1 || typeof body.list !== 'string' || !Number.isInteger(body.page) || (body.page ?? 0) < 1) {
    throw new KernelError('invalid_arguments', 'cursor is not a cursor this tool returned: pass next_cursor from the previous result unchanged, or omit it for the first page.');
  }
  if (body.list !== list) {
    throw new KernelError('invalid_arguments', `cursor belongs to github_${body.list}, not github_${list}: pass it to that tool, or omit it for the first page.`);
  }
  return body.page as number;
}

/** The cursor for the `rel="next"` page of a `Link` header, or null on the last page. */
export function nextCursor(list: string, link: string | undefined): string | null {
  const next = link?.split(',').find((part) => /rel="next"/.test(part));
  const url = next ? /<([^>]+)>/.exec(next)?.[1] : undefined;
  const page = url ? Number(new URL(url).searchParams.get('page')) : NaN;
  if (!Number.isInteger(page) || page < 1) return null;
  const body: CursorBody = { v: 1, list, page };
  return Buffer.from(JSON.stringify(body)).toString('base64url');
}
