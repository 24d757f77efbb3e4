import { createHash } from 'node:crypto';
import type { Adapter, AdapterPayload } from 'oidc-provider';
import type { JsonObject } from '../../kernel/index.ts';
import type { OAuthStore } from '../../approval-web/store.ts';

/**
 * oidc-provider's storage contract over the web app's tables (approval-web/oauth-store.ts through `webdb`), so the edge
 * keeps holding no database handle. The id of a code or token is the secret itself: it is stored only as a hash.
 */

/** Models whose id is a bearer secret (a code or a token), stored under its SHA-256. */
const SECRET_IDS = new Set(['AccessToken', 'AuthorizationCode', 'RefreshToken', 'RegistrationAccessToken', 'ClientCredentials', 'DeviceCode', 'PushedAuthorizationRequest']);

export function storeAdapter(store: OAuthStore): (model: string) => Adapter {
  return (model) => {
    const key = (id: string) => (SECRET_IDS.has(model) ? createHash('sha256').update(`countersign/oauth/${model}\0${id}`).digest('base64url') : id);
    return {
      async upsert(id, payload, expiresIn) {
        // Grants carry no grantId of their own: they are the family, so revoking the family deletes them too.
        const grantId = model === 'Grant' ? id : (payload.grantId ?? null);
        // Plain JSON on the wire: drops the undefined fields oidc-provider leaves on its models.
        await store.upsert(model, key(id), JSON.parse(JSON.stringify(payload)) as JsonObject, expiresIn > 0 ? expiresIn : null, grantId, payload.uid ?? null);
      },
      async find(id) {
        const row = await store.find(model, key(id));
        if (!row) return undefined;
        return row.consumed ? ({ ...row.payload, consumed: true } as AdapterPayload) : (row.payload as AdapterPayload);
      },
      async findByUid(uid) {
        const row = await store.findByUid(model, uid);
        return row ? (row.payload as AdapterPayload) : undefined;
      },
      async findByUserCode() {
        return undefined; // the device flow is off
      },
      async consume(id) {
        await store.consume(model, key(id));
      },
      async destroy(id) {
        await store.destroy(model, key(id));
      },
      async revokeByGrantId(grantId) {
        await store.revokeGrant(grantId);
      },
    };
  };
}
