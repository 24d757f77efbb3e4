/**
 * What the consent page needs from the OAuth authorization server (gateway/oauth/), as an interface the gateway
 * implements, so the web app never imports the gateway. A pending connection is found by the browser's own
 * interaction cookie: a link to someone else's consent page opens nothing.
 */
export interface ConnectRequest {
  uid: string;
  /** The client's id: a URL (Client ID Metadata Document) or an id this server issued at registration. */
  clientId: string;
  /** What the client calls itself (client_name): its author is the client, not Countersign. */
  clientName: string | null;
  /** Where the browser goes back to, with the authorization code. */
  redirectUri: string;
  /** True when the client identified itself with a metadata document at an https URL it controls. */
  metadataDocument: boolean;
  /** The MCP endpoint the tokens will be for. */
  resource: string;
}

export interface ConnectFlow {
  /** The pending connection this browser started, or null (unknown, expired, or started in another browser). */
  details(request: Request, uid: string): Promise<ConnectRequest | null>;
  /** Grants the connection to the agent; returns where to send the browser (back through the authorization endpoint). */
  approve(request: Request, uid: string, agentName: string): Promise<string>;
  /** Declines; returns where to send the browser (the client hears access_denied). */
  deny(request: Request, uid: string): Promise<string>;
}
