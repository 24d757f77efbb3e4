import type { Connector } from '../spec.ts';
import { accessTools } from './access.ts';
import { branchTools } from './branches.ts';
import { createGithubClient, type GithubClientOptions } from './client.ts';
import { deployTools } from './deploy.ts';
import { issueTools } from './issues.ts';
import { pullTools } from './pulls.ts';
import { readTools } from './reads.ts';
import { releaseTools } from './releases.ts';

export type GithubConnectorOptions = GithubClientOptions;
export { startGithubSandbox, type GithubSandbox, type Fault, type ReceivedRequest } from './sandbox/index.ts';

/**
 * The GitHub connector: six reads and nine writes over `@octokit/rest`. With `sandbox: true` it talks to the local
 * sandbox upstream at `baseUrl` and needs no token. The token is held by the client's closure and nowhere else.
 * @example createGithubConnector({ token: process.env.GITHUB_TOKEN, sandbox: false })
 * @example const sb = await startGithubSandbox(); createGithubConnector({ baseUrl: sb.url, sandbox: true })
 */
export function createGithubConnector(options: GithubConnectorOptions): Connector {
  const gh = createGithubClient(options);
  return {
    name: 'github',
    sandbox: options.sandbox,
    tools: [
      ...readTools(gh),
      ...issueTools(gh),
      ...branchTools(gh),
      ...pullTools(gh),
      ...accessTools(gh),
      ...releaseTools(gh),
      ...deployTools(gh),
    ],
  };
}
