import { describe, expect, it } from 'vitest';
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
});
