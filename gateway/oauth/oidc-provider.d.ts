/** The part of oidc-provider (which ships no types) that gateway/oauth/ uses. */
declare module 'oidc-provider' {
  import type { IncomingMessage, ServerResponse } from 'node:http';

  export interface AdapterPayload {
    [key: string]: unknown;
    grantId?: string;
    uid?: string;
    consumed?: unknown;
    accountId?: string;
    clientId?: string;
  }
  export interface Adapter {
    upsert(id: string, payload: AdapterPayload, expiresIn: number): Promise<void>;
    find(id: string): Promise<AdapterPayload | undefined>;
    findByUserCode(userCode: string): Promise<AdapterPayload | undefined>;
    findByUid(uid: string): Promise<AdapterPayload | undefined>;
    consume(id: string): Promise<void>;
    destroy(id: string): Promise<void>;
    revokeByGrantId(grantId: string): Promise<void>;
  }

  export interface ClientView {
    clientId: string;
    clientName?: string;
    redirectUris: string[];
    clientIdMetadataDocument?: boolean;
    grantTypeAllowed(type: string): boolean;
  }
  export interface InteractionView {
    uid: string;
    prompt: { name: string; reasons: string[]; details: Record<string, unknown> };
    params: Record<string, unknown> & { client_id: string; redirect_uri?: string; resource?: string | string[]; scope?: string };
    session?: { accountId?: string; uid?: string };
    grantId?: string;
    returnTo: string;
    exp: number;
    save(ttl: number): Promise<string>;
  }
  export interface GrantInstance {
    addResourceScope(resource: string, scope: string): void;
    addOIDCScope(scope: string): void;
    save(): Promise<string>;
  }
  export interface AccessTokenInstance {
    accountId: string;
    clientId: string;
    grantId: string;
    aud?: string | string[];
    scope?: string;
    isValid: boolean;
    isExpired: boolean;
  }

  export class Provider {
    constructor(issuer: string, configuration: Record<string, unknown>);
    proxy: boolean;
    issuer: string;
    callback(): (req: IncomingMessage, res: ServerResponse) => Promise<void>;
    interactionDetails(req: unknown, res: unknown): Promise<InteractionView>;
    interactionResult(req: unknown, res: unknown, result: Record<string, unknown>, options?: { mergeWithLastSubmission?: boolean }): Promise<string>;
    on(event: string, listener: (...args: unknown[]) => void): this;
    Client: { find(id: string): Promise<ClientView | undefined> };
    Grant: new (fields: { accountId: string; clientId: string }) => GrantInstance;
    AccessToken: { find(token: string): Promise<AccessTokenInstance | undefined> };
    Session: { findByUid(uid: string): Promise<{ destroy(): Promise<void> } | undefined> };
  }
  export default Provider;
  export const errors: Record<string, new (description?: string) => Error>;
  export const interactionPolicy: {
    base(): { get(name: string): { checks: { add(check: unknown, index?: number): void } } | undefined };
    Check: (new (reason: string, description: string, check: (ctx: unknown) => unknown) => unknown) & { REQUEST_PROMPT: unknown };
  };
}
