/**
 * The commented countersign.yaml written on first start. It is the first thing a newcomer reads, so it explains
 * itself; a unit test loads and compiles it, so it never drifts out of date with the schema.
 */
export const EXAMPLE_CONFIG = `# Countersign configuration. Edit it, then check it with: countersign policy check
# Every setting is optional except policy. Values like "env:NAME" are read from the environment at start.

# The address people open in a browser. Passkeys are bound to it, so set it before enrolling anyone.
# Default: http://localhost:PORT (or COUNTERSIGN_PUBLIC_URL).
# publicUrl: https://countersign.example.com

# How long (seconds) a tool call that needs approval is held before the agent gets a "pending" answer
# and waits with countersign_await. Default 25.
# holdSeconds: 25

# Credentials. Without them a connector runs against its built-in sandbox and every screen says SANDBOX.
# GITHUB_TOKEN and STRIPE_SECRET_KEY in the environment are used when these lines are absent.
# connectors:
#   github:
#     token: env:GITHUB_TOKEN
#   stripe:
#     secretKey: env:STRIPE_SECRET_KEY

# Who may approve what. A role is a list of approver emails; each person enrolls a passkey with
# "countersign approver invite EMAIL --role ROLE". The role "owner" is built in: the agent's owner.
# Replace these example addresses with your team's.
roles:
  finance:
    - ana@example.com
  maintainers:
    - bo@example.com
    - chen@example.com

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
# Check a call without running it: countersign policy explain --tool NAME --args '{"k": "v"}'
policy:
  # What happens when no rule matches: approval by the agent's owner.
  default: approve
  rules:
    - id: reads
      tools: [github_get_*, github_list_*, stripe_get_*, stripe_list_*]
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
        count: 2
      expires: 1d
      reason: changes the default branch

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

# Accept OAuth 2.1 access tokens from your identity provider besides Countersign's own agent tokens.
# oauth:
#   issuer: https://login.example.com
#   audience: https://countersign.example.com/mcp
#   jwksUrl: https://login.example.com/.well-known/jwks.json

# Calls per minute per agent.
# rateLimit:
#   perMinute: 120
`;
