#!/usr/bin/env node
// A separate process appending to the audit log of the PostgreSQL database in argv[2], for the crash and replica
// tests: `node audit-writer.mjs URL NAME COUNT [maxBatch]` commits COUNT entries (data {writer: NAME, n}), one small
// transaction each, printing "committed n" after each commit, while its own sequencer integrates; then it syncs,
// prints "synced", and keeps running until killed. AUDIT_KEY_FILE names the signing key (a private Ed25519 JWK).
import { register } from 'tsx/esm/api';

register();
const [url, name, count, maxBatch] = process.argv.slice(2);
const { openDatabase } = await import('../../gateway/db.ts');
const { createAuditLog, createNoteSigner } = await import('../../kernel/index.ts');
const { readFileSync } = await import('node:fs');
const database = await openDatabase({ url });
const key = JSON.parse(readFileSync(process.env.AUDIT_KEY_FILE, 'utf8'));
const { createPrivateKey } = await import('node:crypto');
const signer = createNoteSigner('test.example/countersign/audit', createPrivateKey({ key, format: 'jwk' }), { kty: 'OKP', crv: 'Ed25519', x: key.x });
const audit = createAuditLog(database.db, signer, { idleMs: 50, maxBatch: Number(maxBatch ?? 200) });
for (let n = 0; n < Number(count); n++) {
  await database.db.transaction(async (tx) => audit.append([{ kind: 'test.written', actor: `test:${name}`, data: { writer: name, n } }], tx));
  process.stdout.write(`committed ${n}\n`);
}
await audit.sync();
process.stdout.write('synced\n');
setInterval(() => {}, 60_000);
