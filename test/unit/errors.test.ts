import { describe, expect, it } from 'vitest';
import { DrizzleQueryError } from 'drizzle-orm';
import { asKernelError, KernelError } from '../../kernel/errors.ts';

describe('asKernelError', () => {
  it('passes a KernelError through, and makes anything else internal, keeping what was thrown as the cause', () => {
    const refused = new KernelError('bad_request', 'no');
    expect(asKernelError(refused)).toBe(refused);
    expect(String(refused)).toBe('KernelError: no'); // as logs and stack traces name it
    const thrown = new TypeError('x is undefined');
    const wrapped = asKernelError(thrown);
    expect(wrapped).toMatchObject({ code: 'internal', message: 'internal error: x is undefined', details: undefined });
    expect(wrapped.cause).toBe(thrown);
    expect(asKernelError('plain text')).toMatchObject({ code: 'internal', message: 'internal error: plain text', cause: 'plain text' });
    // What crosses the wire is the code and the message only; the cause (a stack, a driver error) stays in the process.
    expect(JSON.parse(JSON.stringify(wrapped))).toEqual({ code: 'internal', message: 'internal error: x is undefined' });
  });

  it("says what the database said about a failed statement, not the statement and its parameters (they stay in the cause)", () => {
    const said = new Error('connect ECONNREFUSED 127.0.0.1:5432');
    const failed = new DrizzleQueryError('insert into requests (id, body) values ($1, $2)', ['req_1', '{"secret":"an upstream answer"}'], said);
    const wrapped = asKernelError(failed);
    expect(wrapped.toJSON()).toEqual({ code: 'internal', message: 'internal error: connect ECONNREFUSED 127.0.0.1:5432' });
    expect(wrapped.cause).toBe(failed);
    // A wrapper with no driver error under it keeps its own words.
    expect(asKernelError(new DrizzleQueryError('select 1', [])).message).toMatch(/^internal error: Failed query: select 1/);
  });

  it('says a stack overflow is a value nested too deeply; any other RangeError keeps its own words', () => {
    let deep: unknown = 'x';
    for (let i = 0; i < 20_000; i++) deep = [deep];
    const overflow = (() => { try { return JSON.stringify(deep); } catch (error) { return error; } })();
    expect(overflow).toBeInstanceOf(RangeError);
    expect(asKernelError(overflow).message).toBe('internal error: Maximum call stack size exceeded: a value (most often an upstream answer) is nested too deeply to serialize or store');
    expect(asKernelError(new RangeError('Invalid time value')).message).toBe('internal error: Invalid time value');
    expect(asKernelError(new Error('Maximum call stack size exceeded')).message).toBe('internal error: Maximum call stack size exceeded');
  });
});
