import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

/**
 * The commented countersign.yaml written on first start. It is the first thing a newcomer reads, so it explains
 * itself; a unit test loads and compiles it, so it never drifts out of date with the schema.
 */
export const EXAMPLE_CONFIG = `# Countersign configuration. Edit it, then check it with: npx countersign policy check
# (npx works inside the Countersign folder; after "npm link" the command is just "countersign".)
# Every setting is optional except policy. Values like "env:NAME" are read from the environment at start.

# The address people open in a browser. Passkeys are bound to it, so set it before enrolling anyone.
# Default: http://localhost:PORT (or COUNTERSIGN_PUBLIC_URL).
# publicUrl: https://countersign.example.com

# How long (seconds) a tool call that needs approval is held before the agent gets a "pending" answer
# and waits with countersign_await. Default 25.
# holdSeconds: 25

# While a request executes, the server running it holds a lease on it and renews it. If that server dies, another
# one (or the same after a restart) takes over once the lease lapses, and first finds out whether the call ran.
# Keep it above the connectors' upstream timeouts (Stripe's is 20 s). Default 30.
# leaseSeconds: 30

# Credentials. Without them a connector runs against its built-in sandbox and every screen says SANDBOX.
# GITHUB_TOKEN and STRIPE_SECRET_KEY in the environment are used when these lines are absent.
# AWS uses the SDK's standard credential chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, SSO, a
# container or instance role) and AWS_REGION; with none of them set it runs against its sandbox.
# connectors:
#   github:
#     token: env:GITHUB_TOKEN
#   stripe:
#     secretKey: env:STRIPE_SECRET_KEY
#   aws:
#     region: eu-west-1

# Who may approve what. A role's members are the emails listed here plus the people given the role with
#   npx countersign approver grant EMAIL ROLE        (and "approver revoke"; both audited)
# Each person enrolls a passkey with the link "npx countersign approver invite EMAIL" prints.
# The role "owner" is built in: the agent's owner. "auditor" reads every request, the audit log and the people page
# (approvers otherwise see only what they may decide). To try everything yourself, grant yourself all three:
#   npx countersign approver grant you@example.com maintainers finance auditor
# then bring in your team, e.g. list them here:  maintainers: [bo@example.com, chen@example.com]
roles:
  finance: []
  maintainers: []
  auditor: []

# The policy. Rules are checked from top to bottom and the first one that matches decides:
#   allow    run the call now
#   deny     refuse it, telling the agent the reason
#   approve  hold it until enough approvers (default: the agent's owner) approve with a passkey
# A rule matches when the tool name matches one of its globs (* is any run of characters) and its
# "when" expression (CEL, https://cel.dev) is true. Expressions see:
#   tool    the tool name               args    the call's arguments
#   intent  summary, consequence, reversible, fields, pins (the upstream state the call is bound to)
#   agent   id, name, owner             now     the current time
# If an expression fails at run time (say, an argument is missing), the request is denied:
# guard optional arguments with has(args.name).
# A "limit" is a budget: the rule only matches while the amount spent in the window stays within max.
# Check a call without running it: npx countersign policy explain --tool NAME --args '{"k": "v"}'
policy:
  # What happens when no rule matches: approval by the agent's owner.
  default: approve
  rules:
    - id: reads
      tools: [github_get_*, github_list_*, stripe_get_*, stripe_list_*, stripe_search_*, aws_ecs_describe_*, aws_lambda_list_*]
      decision: allow

    # Amounts are integer minor units of the charge's currency: 5000 is $50.00.
    # Omitting amount refunds the whole remainder, so such refunds go on to the rule below.
    - id: small-refunds
      tools: [stripe_create_refund]
      when: has(args.amount) && args.amount <= 5000 && intent.pins.currency == "USD"
      decision: allow
      limit:
        sum: args.amount
        per: day
        max: 20000

    - id: refunds-and-payouts
      tools: [stripe_create_refund, stripe_create_payout]
      decision: approve
      approvers:
        role: finance
        count: 1
      expires: 1h
      reason: moves money out of the account

    - id: merge-default-branch
      tools: [github_merge_pull_request]
      when: intent.pins.base == intent.pins.default_branch
      decision: approve
      approvers:
        role: maintainers
        count: 1          # raise to 2 once two maintainers have enrolled
      expires: 1d
      reason: changes the default branch

    - id: production-deploys
      tools: [aws_ecs_deploy]
      when: args.cluster == "production"
      decision: approve
      approvers:
        role: maintainers
        count: 2
      expires: 1h
      reason: deploys to production

    - id: no-aws-admin
      tools: [aws_iam_attach_role_policy]
      when: args.policy_arn in ["arn:aws:iam::aws:policy/AdministratorAccess", "arn:aws:iam::aws:policy/IAMFullAccess"]
      decision: deny
      reason: agents may not grant administrator access in AWS; an administrator attaches it by hand

    # Terminating instances, deleting objects and other AWS writes fall through to the default: the owner approves.

    - id: no-admin-collaborators
      tools: [github_add_collaborator]
      when: args.permission == "admin"
      decision: deny
      reason: agents may not grant admin access; ask a repository admin to do it by hand

# Where to tell approvers that something waits for them.
# notify:
#   webPush: true
#   webhooks:
#     - https://hooks.example.com/countersign
#     # Webhooks and push endpoints must be https and public; one on your own network needs saying so:
#     - url: http://10.0.0.5:9000/countersign
#       allowPrivateNetwork: true

# Keep the audit log's signed checkpoints outside its database too, so a rolled-back or edited database is caught
# (countersign audit verify checks these files). Files must lie outside COUNTERSIGN_HOME; URLs get each checkpoint
# POSTed as text/plain (https and public addresses only, unless an entry is {url, allowPrivateNetwork: true}).
# audit:
#   witnesses:
#     - /mnt/backup/countersign-checkpoint
#     - https://witness.example.com/countersign

# Accept OAuth 2.1 access tokens from your identity provider besides Countersign's own agent tokens.
# oauth:
#   issuer: https://login.example.com
#   audience: https://countersign.example.com/mcp
#   jwksUrl: https://login.example.com/.well-known/jwks.json

# Calls per minute per agent.
# rateLimit:
#   perMinute: 120

# Request size and time limits (defaults shown): oversized bodies get 413, slow clients are cut off.
# limits:
#   webBodyBytes: 65536
#   mcpBodyBytes: 1048576
#   headersTimeoutSeconds: 10
#   requestTimeoutSeconds: 30

# Host names this server answers to besides its publicUrl's and localhost (behind a proxy that rewrites Host).
# allowedHosts: [countersign.internal:8787]

# Behind a reverse proxy or tunnel on this machine or your network, name it, so throttles and the audit log see each
# client's address (from X-Forwarded-For) instead of the proxy's. Off by default: then the header is ignored, since a
# client can write it too. List only proxies you run; entries are addresses, CIDR ranges, or loopback, linklocal and
# uniquelocal. The client is the rightmost address a trusted hop received from. For RFC 7239 Forwarded headers write
# {addresses: [...], header: forwarded}.
# trustProxy: [loopback]
`;

/**
 * Writes the commented example config on first start, so a newcomer has something to read and edit. It lives here,
 * not in app.ts, so that the supervisor of `--isolation process` writes it without loading the core it never runs.
 */
export function ensureConfig(configPath: string): void {
  if (existsSync(configPath)) return;
  mkdirSync(dirname(resolve(configPath)), { recursive: true });
  writeFileSync(configPath, EXAMPLE_CONFIG, { flag: 'wx' });
}
