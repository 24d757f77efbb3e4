/**
 * The built-in connectors' tools and the CEL types of their arguments, without loading their SDKs: what `countersign
 * policy check` checks a policy's tool names, globs and expressions against offline. `test/unit/tool-catalog.test.ts`
 * asserts it equals what the connectors register (names, and types derived from their schemas), so a tool added or
 * changed there fails the suite until it is updated here. Downstream MCP servers' tools are known only while they run;
 * their names start with the server's name and "_".
 */
export const BUILTIN_TOOLS: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  github_get_repository: { owner: 'string', repo: 'string' },
  github_list_pull_requests: { owner: 'string', repo: 'string', state: 'string', per_page: 'int', cursor: 'string' },
  github_get_pull_request: { owner: 'string', repo: 'string', pull_number: 'int' },
  github_list_issues: { owner: 'string', repo: 'string', state: 'string', per_page: 'int', cursor: 'string' },
  github_get_file_contents: { owner: 'string', repo: 'string', path: 'string', ref: 'string' },
  github_list_workflow_runs: { owner: 'string', repo: 'string', per_page: 'int', cursor: 'string' },
  github_create_issue: { owner: 'string', repo: 'string', title: 'string', body: 'string', labels: 'list' },
  github_create_issue_comment: { owner: 'string', repo: 'string', issue_number: 'int', body: 'string' },
  github_create_branch: { owner: 'string', repo: 'string', branch: 'string', from_sha: 'string', from_branch: 'string' },
  github_delete_branch: { owner: 'string', repo: 'string', branch: 'string' },
  github_create_pull_request: { owner: 'string', repo: 'string', title: 'string', head: 'string', base: 'string', body: 'string' },
  github_merge_pull_request: { owner: 'string', repo: 'string', pull_number: 'int', sha: 'string', merge_method: 'string' },
  github_add_collaborator: { owner: 'string', repo: 'string', username: 'string', permission: 'string' },
  github_create_release: { owner: 'string', repo: 'string', tag_name: 'string', name: 'string', body: 'string', target_commitish: 'string' },
  github_dispatch_workflow: { owner: 'string', repo: 'string', workflow_id: 'dyn', ref: 'string', environment: 'string', sha: 'string' },
  stripe_get_balance: {},
  stripe_list_customers: { email: 'string', limit: 'int', cursor: 'string' },
  stripe_search_customers: { name: 'string', limit: 'int', cursor: 'string' },
  stripe_get_customer: { customer: 'string' },
  stripe_list_charges: { customer: 'string', limit: 'int', cursor: 'string' },
  stripe_get_payment_intent: { payment_intent: 'string' },
  stripe_list_subscriptions: { customer: 'string', status: 'string', limit: 'int', cursor: 'string' },
  stripe_create_refund: { charge: 'string', payment_intent: 'string', amount: 'int', reason: 'string', metadata: 'map' },
  stripe_create_payout: { amount: 'int', currency: 'string', description: 'string' },
  stripe_create_payment_link: { price: 'string', quantity: 'int', line_items: 'list' },
  stripe_cancel_subscription: { subscription: 'string' },
  stripe_update_customer_email: { customer: 'string', email: 'string' },
  aws_ecs_describe_services: { cluster: 'string', services: 'list' },
  aws_ecs_deploy: { cluster: 'string', service: 'string', image: 'string', container: 'string', task_definition: 'string' },
  aws_lambda_list_functions: { marker: 'string', max_items: 'int' },
  aws_lambda_update_function_code: { function_name: 'string', s3_bucket: 'string', s3_key: 'string', s3_object_version: 'string', image_uri: 'string' },
  aws_iam_attach_role_policy: { role_name: 'string', policy_arn: 'string' },
  aws_ec2_stop_instances: { instance_ids: 'list' },
  aws_ec2_terminate_instances: { instance_ids: 'list' },
  aws_s3_delete_object: { bucket: 'string', key: 'string', version_id: 'string' },
};
