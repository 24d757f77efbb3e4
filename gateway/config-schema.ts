import { z } from 'zod';
import { trustEntryProblem } from '../net/proxy.ts';

/**
 * The shape of countersign.yaml (DESIGN section 7). Each leaf carries, as its error, a description of what it must
 * be, so the loader can say "holdSeconds must be a whole number of seconds from 0 to 300, got 'soon'". Meaning
 * beyond shape (CEL, globs, roles used by rules, durations) is checked by compilePolicy in the kernel.
 */

const httpUrl = (what: string) => z.url({ protocol: /^https?$/, error: `an http:// or https:// URL (${what})` });
const text = (example: string) => z.string({ error: `a string, e.g. ${example}` }).min(1, { error: `a non-empty string, e.g. ${example}` });
const secret = (envName: string) => text(`"env:${envName}" to read it from the environment`);
const decision = z.enum(['allow', 'deny', 'approve'], { error: 'allow, deny or approve' });
const ROLE_NAME = /^[a-z][a-z0-9_-]{0,31}$/;
const EMAIL = /^[^\s@]+@[^\s@]+$/;

const proxyEntry = z
  .string({ error: 'an IP address, a CIDR range such as 10.0.0.0/8, or loopback, linklocal or uniquelocal' })
  .refine((entry) => trustEntryProblem(entry) === null, { error: 'an IP address, a CIDR range such as 10.0.0.0/8, or loopback, linklocal or uniquelocal' });

const ruleSchema = z.strictObject({
  id: text('"small-refunds"'),
  tools: z.array(text('github_get_*'), { error: 'a list of tool names or globs, e.g. [github_get_*, github_list_*]' }),
  when: text('args.amount <= 5000').optional(),
  decision,
  approvers: z
    .strictObject({
      role: text('finance'),
      count: z.number({ error: 'a whole number of approvers, e.g. 2' }).int().min(1).max(100),
    })
    .optional(),
  expires: text('"15m", "2h" or "1d"').optional(),
  reason: text('"admin access is never granted by agents"').optional(),
  limit: z
    .strictObject({
      sum: text('args.amount'),
      per: text('day (or hour, week, "24h")'),
      max: z.number({ error: 'a whole number in the unit of sum, e.g. 20000 (cents)' }).int().min(0),
    })
    .optional(),
});

export const configSchema = z.strictObject({
  publicUrl: httpUrl('the origin people open, e.g. https://countersign.example.com').optional(),
  holdSeconds: z.number({ error: 'a whole number of seconds from 0 to 300, e.g. 25' }).int().min(0).max(300).optional(),
  leaseSeconds: z.number({ error: 'a number of seconds from 1 to 600, e.g. 30' }).min(1).max(600).optional(),
  connectors: z
    .strictObject({
      github: z.strictObject({ token: secret('GITHUB_TOKEN').optional(), baseUrl: httpUrl('the GitHub API base').optional() }).optional(),
      stripe: z.strictObject({ secretKey: secret('STRIPE_SECRET_KEY').optional(), baseUrl: httpUrl('the Stripe API base').optional() }).optional(),
      mcp: z
        .strictObject({
          servers: z.record(
            z.string().regex(/^[a-z][a-z0-9]{0,15}$/, { error: 'a server name: 1 to 16 lowercase letters or digits, starting with a letter' }),
            z.strictObject({
              command: text('npx').optional(),
              args: z.array(z.string(), { error: 'a list of arguments' }).optional(),
              env: z.record(z.string(), z.string(), { error: 'a map of variable to value, e.g. TOKEN: env:NOTION_TOKEN' }).optional(),
              cwd: text('/srv/files').optional(),
              url: httpUrl('the downstream server\'s MCP endpoint').optional(),
              headers: z.record(z.string(), z.string(), { error: 'a map of header to value, e.g. Authorization: env:LINEAR_AUTH' }).optional(),
              tools: z.record(z.string(), z.strictObject({ impact: z.enum(['read', 'write', 'high'], { error: 'read, write or high' }).optional() })).optional(),
              descriptor: text('./descriptors/filesystem.yaml').optional(),
              // How long a call may go without an answer before it is cancelled downstream (progress restarts the clock).
              timeoutMs: z.number({ error: 'milliseconds from 100 to 3600000, e.g. 60000' }).int().min(100).max(3_600_000).optional(),
            }),
          ),
        })
        .optional(),
      aws: z
        .strictObject({
          region: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d$/, { error: 'an AWS region name, e.g. us-east-1' }).optional(),
          accessKeyId: secret('AWS_ACCESS_KEY_ID').optional(),
          secretAccessKey: secret('AWS_SECRET_ACCESS_KEY').optional(),
          sessionToken: secret('AWS_SESSION_TOKEN').optional(),
          endpoint: httpUrl('one endpoint for every AWS service, e.g. a LocalStack URL').optional(),
        })
        .optional(),
    })
    .optional(),
  roles: z
    .record(
      z.string().regex(ROLE_NAME, { error: 'a role name of lowercase letters, digits, "-" or "_", starting with a letter' }),
      z.array(z.string().regex(EMAIL, { error: 'an email address' }), { error: 'a list of email addresses, e.g. [ana@example.com]' }),
      { error: 'a map from role name to a list of emails, e.g. finance: [ana@example.com]' },
    )
    .optional(),
  policy: z.strictObject(
    {
      default: decision.optional(),
      rules: z.array(ruleSchema, { error: 'a list of rules, each starting with "- id: ..."' }).optional(),
    },
    { error: 'a map with default and rules (see the example config)' },
  ),
  notify: z
    .strictObject({
      webhooks: z
        .array(
          z.union([httpUrl('a webhook endpoint'), z.strictObject({ url: httpUrl('a webhook endpoint'), allowPrivateNetwork: z.boolean({ error: 'true or false' }).optional() })], {
            error: 'a webhook URL, or {url, allowPrivateNetwork: true} for one on your own network',
          }),
          { error: 'a list of webhook URLs' },
        )
        .optional(),
      webPush: z.boolean({ error: 'true or false' }).optional(),
    })
    .optional(),
  audit: z
    .strictObject({
      witnesses: z
        .array(z.union([text('/mnt/backup/countersign-checkpoint or https://witness.example.com/add'), z.strictObject({ url: httpUrl('a witness endpoint'), allowPrivateNetwork: z.boolean().optional() })]), {
          error: 'a list of file paths (outside the data directory) or URLs each new checkpoint goes to',
        })
        .optional(),
    })
    .optional(),
  auth: z
    .enum(['builtin', 'external', 'both'], {
      error: 'builtin (Countersign is its own OAuth authorization server, for claude.ai and ChatGPT), external (tokens from the issuer under oauth:), or both',
    })
    .optional(),
  oauth: z
    .strictObject({
      issuer: httpUrl('the authorization server issuer'),
      audience: text('https://countersign.example.com/mcp'),
      jwksUrl: httpUrl("the issuer's JWKS endpoint").optional(),
      algorithms: z
        .array(z.enum(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'], { error: 'a JWS algorithm such as RS256, ES256 or EdDSA' }))
        .min(1)
        .optional(),
      tokenType: text('at+jwt (RFC 9068), or JWT if your issuer labels access tokens so').optional(),
      requiredScopes: z.array(text('mcp'), { error: 'a list of scopes every access token must hold, e.g. [mcp]' }).optional(),
    })
    .optional(),
  limits: z
    .strictObject({
      webBodyBytes: z.number({ error: 'a whole number of bytes from 1024 to 16777216, e.g. 65536' }).int().min(1024).max(16 * 1024 * 1024).optional(),
      mcpBodyBytes: z.number({ error: 'a whole number of bytes from 1024 to 67108864, e.g. 1048576' }).int().min(1024).max(64 * 1024 * 1024).optional(),
      headersTimeoutSeconds: z.number({ error: 'a whole number of seconds from 1 to 120, e.g. 10' }).int().min(1).max(120).optional(),
      requestTimeoutSeconds: z.number({ error: 'a whole number of seconds from 1 to 600, e.g. 30' }).int().min(1).max(600).optional(),
    })
    .optional(),
  trustProxy: z
    .union(
      [
        z.array(proxyEntry, { error: 'a list of proxy addresses' }),
        z.strictObject({ addresses: z.array(proxyEntry, { error: 'a list of proxy addresses' }), header: z.enum(['x-forwarded-for', 'forwarded'], { error: 'x-forwarded-for or forwarded' }).optional() }),
      ],
      { error: 'a list of the reverse proxies in front of this server, e.g. [loopback, 10.0.0.0/8], or {addresses: [...], header: forwarded}' },
    )
    .optional(),
  allowedHosts: z.array(text('countersign.internal:8787'), { error: 'a list of host names (with port) this server also answers to' }).optional(),
  rateLimit: z.strictObject({ perMinute: z.number({ error: 'a whole number of calls per minute per agent, e.g. 60' }).int().min(1) }).optional(),
});

export type RawConfig = z.infer<typeof configSchema>;

/** Every key the config knows, per section, for "did you mean" suggestions. */
export function knownKeys(path: readonly (string | number)[]): string[] {
  let schema: z.ZodType = configSchema;
  for (const part of path) {
    schema = unwrap(schema);
    if (schema instanceof z.ZodObject) schema = (schema.shape as Record<string, z.ZodType>)[String(part)] ?? z.never();
    else if (schema instanceof z.ZodArray) schema = schema.element as z.ZodType;
    else if (schema instanceof z.ZodRecord) schema = schema.valueType as z.ZodType;
    else return [];
  }
  schema = unwrap(schema);
  return schema instanceof z.ZodObject ? Object.keys(schema.shape) : [];
}

function unwrap(schema: z.ZodType): z.ZodType {
  return schema instanceof z.ZodOptional ? unwrap(schema.unwrap() as z.ZodType) : schema;
}
