import { z } from 'zod';
import type { AuthenticationResponseJSON } from '@simplewebauthn/server';
import { KernelError } from '../errors.ts';

const base64url = z.string().regex(/^[A-Za-z0-9_-]*$/, 'must be base64url (A-Z a-z 0-9 - _, no padding)').min(1, 'must not be empty');

// The fields verification reads; anything else the browser adds is kept as-is in the receipt.
const assertionSchema = z.looseObject({
  id: base64url,
  rawId: base64url,
  type: z.literal('public-key'),
  clientExtensionResults: z.looseObject({}).default({}),
  authenticatorAttachment: z.enum(['platform', 'cross-platform']).optional(),
  response: z.looseObject({
    clientDataJSON: base64url,
    authenticatorData: base64url,
    signature: base64url,
    userHandle: base64url.optional(),
  }),
});

/** Checks that untrusted input has the shape of an AuthenticationResponseJSON; evidence_refused naming the field if not. */
export function parseAssertion(input: unknown): AuthenticationResponseJSON {
  const result = assertionSchema.safeParse(input);
  if (!result.success) {
    const issue = result.error.issues[0];
    const path = issue && issue.path.length > 0 ? issue.path.join('.') : '(root)';
    throw new KernelError(
      'evidence_refused',
      `the passkey assertion is malformed at ${path}: ${issue?.message ?? 'invalid'}; send the AuthenticationResponseJSON from navigator.credentials.get as-is`,
    );
  }
  return result.data as AuthenticationResponseJSON;
}
