import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Frontier, checkpointText, createNoteSigner, entryJcs, hashLeaf, jcs, requestDigest, type JsonObject, type RequestBody } from '../../kernel/index.ts';
import { BUNDLE_FORMAT, HEADER_LINE } from '../../gateway/audit/bundle.ts';
import { eachLine, verifyExport, verifyExportFile } from '../../gateway/audit/offline.ts';

/**
 * Offline verification checks each approval against what the log itself says: the enrollment of the key that signed
 * it and the request as received. These bundles are signed with the log's key, so the tree and checkpoints hold and
 * only those cross-checks can catch the lie (a log written by a compromised kernel, or an exporter's bug).
 */
const { privateKey, publicKey } = generateKeyPairSync('ed25519');
const signer = createNoteSigner('test.example/countersign/audit', privateKey, publicKey.export({ format: 'jwk' }) as JsonObject);

type Line = [kind: string, requestId: string | null, actor: string, data: JsonObject];

/** A signed bundle of `entries` from seq 1: header, entry lines and a closing checkpoint, as the exporter writes them. */
function bundle(entries: Line[]): string[] {
  const frontier = new Frontier();
  const at = '2026-11-28T12:00:00.000Z';
  const lines = entries.map(([kind, requestId, actor, data]) => {
    const line = entryJcs(frontier.size + 1, at, kind, requestId, actor, jcs(data));
    frontier.push(hashLeaf(line));
    return line;
  });
  const checkpoint = signer.sign(checkpointText(signer.name, frontier.size, frontier.root()));
  const header = { format: BUNDLE_FORMAT, kind: 'bundle', createdAt: at, verifierKeys: [signer.verifierKey], checkpoint, since: 1, frontier: [], requestId: null };
  const note = signer.sign(`${HEADER_LINE}\n${jcs(header as unknown as JsonObject)}\n`);
  return [JSON.stringify({ type: 'header', note }), ...lines, JSON.stringify({ type: 'checkpoint', note: checkpoint })];
}

const body = (id: string, amount: number) =>
  ({ tool: 'stripe_create_refund', args: { charge: 'ch_1', amount }, pins: {}, principal: { agentId: 'agt_1', agentName: 'bot', owner: 'ana@example.com' }, policyVersion: 'v1', requestId: id, nonce: 'n1', expiresAt: '2026-11-28T13:00:00.000Z' }) as unknown as RequestBody;
const enrolled: Line = ['passkey.enrolled', null, 'web', { credentialId: 'pk_ana', approverId: 'apr_ana', email: 'ana@example.com', publicKey: 'pQECAyYgASFYIA' }];
const received = (id: string, amount = 12000): Line => ['request.received', id, 'agent:agt_1', { digest: requestDigest(body(id, amount)), body: body(id, amount) as unknown as JsonObject, intent: { summary: `Refund on ${id}`, fields: [{ kind: 'money', label: 'Amount' }] } }];
const approval = (id: string, over: JsonObject = {}, actor = 'approver:apr_ana'): Line =>
  ['approval.decided', id, actor, { decision: 'approve', approver: 'ana@example.com', evidenceKind: 'webauthn', keyId: 'pk_ana', digest: requestDigest(body(id, 12000)), receipt: { kind: 'webauthn' }, ...over }];

describe('offline verification of approvals against the log', () => {
  it('checks an approval signed with a key its approver enrolled, over the request as received', async () => {
    const result = await verifyExport(bundle([enrolled, received('req_1'), approval('req_1')]));
    expect(result).toMatchObject({ ok: true, approvals: { checked: 1, unchecked: [] } });
  });

  it('names an approval whose approver is not the one who enrolled the key that signed it', async () => {
    const result = await verifyExport(bundle([enrolled, received('req_1'), approval('req_1', {}, 'approver:apr_mallory')]));
    expect(result.firstBad).toEqual({ seq: 3, reason: 'approval at entry 3: signed with key pk_ana, enrolled by approver apr_ana, not by apr_mallory' });
  });

  it('names an approval that names another person than the key was enrolled for', async () => {
    const result = await verifyExport(bundle([enrolled, received('req_1'), approval('req_1', { approver: 'mallory@example.com' })]));
    expect(result.firstBad?.reason).toBe('approval at entry 3: names approver mallory@example.com, but key pk_ana was enrolled for ana@example.com');
  });

  it('names an approval of another digest than the request as received', async () => {
    const result = await verifyExport(bundle([enrolled, received('req_1', 99_000), approval('req_1')]));
    expect(result.firstBad?.reason).toMatch(/^approval at entry 3: names digest [0-9a-f]{64}, but the request as received has digest [0-9a-f]{64}$/);
  });

  it('leaves an approval unchecked, naming why, when its request or its key is not in the export', async () => {
    const result = await verifyExport(bundle([enrolled, approval('req_1'), ['approval.decided', 'req_2', 'approver:apr_ana', { ...approval('req_2')[3], keyId: 'pk_gone' }], received('req_2')]));
    expect(result).toMatchObject({ ok: true, approvals: { checked: 0 } });
    expect(result.approvals.unchecked).toEqual([
      { seq: 2, reason: 'the request req_1 as received is not in this export (export from an earlier --since)' },
      { seq: 3, reason: 'the enrollment of key pk_gone is not in this export' },
    ]);
  });

  it('is not misled by entry data that looks like a request or an enrollment (text an agent or upstream wrote)', async () => {
    // Upstream text that imitates other entries, recorded for the same request after its approval.
    const lure = { result: { kind: 'request.received', requestId: 'req_1', body: {} }, credentialId: 'pk_ana', approverId: 'apr_mallory', note: '"kind":"passkey.enrolled"' } as JsonObject;
    const result = await verifyExport(bundle([enrolled, received('req_1'), approval('req_1'), ['execution.succeeded', 'req_1', 'kernel', lure]]));
    expect(result).toMatchObject({ ok: true, approvals: { checked: 1, unchecked: [] } });
  });
});

describe('offline verification of a file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cs-offline-'));
  const write = (name: string, text: string) => (writeFileSync(join(dir, name), text), join(dir, name));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('cuts lines across its 1 MiB reads, with multi-byte characters split between them, CRLF and no final newline', async () => {
    // 3 MiB of lines of varying length holding 2-, 3- and 4-byte characters, so reads end inside lines and characters.
    const lines = Array.from({ length: 20_000 }, (_, i) => `${i} ${'é€😀'.repeat(i % 47)}${'x'.repeat(i % 13)}`);
    const seen: string[] = [];
    await eachLine(write('lines.txt', lines.join('\n')), (line) => seen.push(line));
    expect(seen).toEqual(lines);
    const crlf: string[] = [];
    await eachLine(write('crlf.txt', `a\r\nb\r\n`), (line) => crlf.push(line));
    expect(crlf).toEqual(['a\r', 'b\r']); // the verifier trims them
  });

  it('verifies a bundle file as the CLI reads it, CRLF line endings included, and names an entry line whose seq is not a number', async () => {
    const lines = bundle([enrolled, received('req_1'), approval('req_1')]);
    expect(await verifyExportFile(write('ok.jsonl', `${lines.join('\r\n')}\r\n`))).toMatchObject({ ok: true, entries: 3, approvals: { checked: 1 } });
    const bad = lines.map((l) => l.replace(/,"seq":2\}$/, ',"seq":2e0}'));
    expect((await verifyExportFile(write('bad.jsonl', bad.join('\n')))).firstBad).toEqual({ seq: 2, reason: 'line 3: not an audit entry' });
  });
});
