/**
 * Opaque list cursors. Underneath it is Stripe's `starting_after` (the last id of a page), tagged with the tool
 * that issued it so a cursor passed to the wrong list gets a clear error instead of an odd upstream 400.
 */
import { KernelError, type Json, type JsonObject } from '../../kernel/index.ts';

/** The cursor that continues after `lastId` in the list served by `tool`. */
export function encodeCursor(tool: string, lastId: string): string {
  return Buffer.from(`${tool}\u0000${lastId}`, 'utf8').toString('base64url');
}

/** The `starting_after` id inside a cursor issued by `tool`, or undefined when no cursor was given. */
export function decodeCursor(tool: string, cursor: string | undefined): string | undefined {
  if (cursor === undefined) return undefined;
  const text = /^[A-Za-z0-9_-]+$/.test(cursor) ? Buffer.from(cursor, 'base64url').toString('utf8') : '';
  const [issuer, id, ...rest] = text.split('\u0000');
  if (rest.length > 0 || id === undefined || !/^[a-z]+_[A-Za-z0-9]+$/.test(id)) {
    throw new KernelError('invalid_arguments', `cursor "${cursor}" is not one this tool issued: pass the next_cursor from the previous ${tool} result unchanged, or omit it for the first page`);
  }
  if (issuer !== tool) {
    throw new KernelError('invalid_arguments', `this cursor came from ${issuer}, not ${tool}: pass it back to ${issuer}, or omit it for the first page of ${tool}`);
  }
  return id;
}

/** The `page` token inside a cursor `encodeCursor` issued for `tool` over a search result's `next_page` (opaque, Stripe's). */
export function decodePage(tool: string, cursor: string | undefined): string | undefined {
  if (cursor === undefined) return undefined;
  const text = /^[A-Za-z0-9_-]+$/.test(cursor) ? Buffer.from(cursor, 'base64url').toString('utf8') : '';
  const [issuer, page, ...rest] = text.split('\u0000');
  if (rest.length > 0 || !page || issuer !== tool || !/^[\x21-\x7e]{1,600}$/.test(page)) {
    throw new KernelError('invalid_arguments', `cursor "${cursor}" is not one ${tool} issued: pass the next_cursor from the previous ${tool} result unchanged, or omit it for the first page`);
  }
  return page;
}

/** A Stripe list as a tool result: the page, `has_more`, and `next_cursor` when there is more. */
export function listResult(tool: string, noun: string, list: { data: { id: string }[]; has_more: boolean }): {
  data: JsonObject;
  text: string;
} {
  const last = list.data[list.data.length - 1];
  const nextCursor = list.has_more && last !== undefined ? encodeCursor(tool, last.id) : null;
  const more = nextCursor === null ? '' : '; more available: call again with cursor = next_cursor';
  return {
    data: { data: list.data as unknown as Json[], has_more: list.has_more, next_cursor: nextCursor },
    text: `${list.data.length} ${noun}${list.data.length === 1 ? '' : 's'}${more}`,
  };
}
