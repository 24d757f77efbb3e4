/** The MCP face of Countersign: the `/mcp` Streamable HTTP endpoint and its RFC 9728 metadata. */
import { CAPABILITIES } from '../../kernel/index.ts';
export { createMcpHandler, type McpHandler, type McpHandlerOptions } from './handler.ts';
export { protectedResourceMetadata, metadataHandler, oauthMetadataRoute } from './metadata.ts';
export { defaultAllowed } from './guard.ts';
export { createExecutions, type Executions, type GatewayMessage } from './executions.ts';
export type { OAuthOptions } from './auth.ts';
export { annotate, AWAIT_TOOL, REQUESTS_TOOL } from './tools.ts';

/** The capabilities the gateway's router port must hold, and nothing more. */
export const GATEWAY_CAPABILITIES = CAPABILITIES.gateway;
