import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline/promises';
import { parseArgs } from 'node:util';
import { CompactSign, exportJWK, generateKeyPair, importJWK, type JWK } from 'jose';
import { approvalSigningBytes, requestDigest, type ApprovalDecision, type IntentField, type RequestBody } from '../../kernel/index.ts';
import { FLAG_TEXT, authorLine, displayUrl, fingerprint, formatMoney, inspect, type Flag } from '../../approval-web/hygiene.ts';

/**
 * `countersign passport`: a faithful software Passport. It holds an Ed25519 key in DIR/passport.json (mode 0600),
 * pairs with a one-time code, and for each pending request recomputes the digest from the body it received before
 * it shows or signs anything: a device never signs what it cannot check. It signs exactly what a hardware Passport
 * signs, approvalSigningBytes(digest, decision), as a compact JWS (EdDSA), and authenticates every call with a fresh
 * signed {method, path, iat, nonce}.
 */

export const PASSPORT_HELP = `countersign passport: the Passport device emulator

Usage:
  countersign passport pair --url URL --code CODE [--name NAME] [--home DIR] [--json]
      generate a key pair, keep it in DIR/passport.json (mode 0600) and pair it with the code
      (make one with \`countersign device pair --approver EMAIL\` or "Pair a Passport" on the web app)
  countersign passport [--url URL] [--home DIR] [--once] [--approve-all | --reject-all]
                       [--mark-done ID]... [--run-again ID]... [--reason TEXT] [--json]
      show each pending request on the device screen and ask "Approve? [y/N/r=reject]";
      --once: go through the inbox once and exit (otherwise poll every 2 s until Ctrl-C);
      --approve-all / --reject-all: decide without asking (scripts, tests); a rejection asks for a reason (or takes
      --reason with --reject-all), which the device signs with its decision and the agent receives;
      a request that may or may not have run (its server died mid-call) is never approved: check upstream, then
      answer "Did it run?" or pass --mark-done ID (it did) or --run-again ID (it did not), --reason saying what you saw

Each request shows its fingerprint (the first 80 bits of its digest); the web page shows the same one.
DIR defaults to ~/.countersign-passport. --url defaults to the server the Passport was paired with.
`;

export interface PassportIo {
  write(text: string): void;
  /** Asks on a terminal; null when there is none (then --approve-all or --reject-all is needed). */
  ask: ((question: string) => Promise<string>) | null;
}

interface PassportFile {
  version: 1;
  url: string;
  deviceId: string;
  name: string;
  approverEmail: string | null;
  publicJwk: JWK;
  privateJwk: JWK;
  pairedAt: string;
}

interface InboxItem {
  id: string;
  digest: string;
  body: RequestBody;
  intent: {
    summary: string;
    consequence: string;
    reversible: boolean;
    fields: IntentField[];
    pins: Record<string, unknown>;
    agentText?: { label: string; text: string }[];
    sandbox?: boolean;
  };
  approvals?: { approved: number; required: number };
  /** Set when the request may or may not have run: what is unknown and what to check upstream. */
  unknown?: { message: string; check: string | null } | null;
}

class PassportError extends Error {}

export function terminalIo(): PassportIo {
  const tty = process.stdin.isTTY && process.stdout.isTTY;
  return {
    write: (text) => void process.stdout.write(text),
    ask: tty
      ? async (question) => {
          const rl = createInterface({ input: process.stdin, output: process.stdout });
          try {
            return await rl.question(question);
          } finally {
            rl.close();
          }
        }
      : null,
  };
}

const fileOf = (home: string) => join(home, 'passport.json');

function readPassport(home: string): PassportFile {
  const path = fileOf(home);
  if (!existsSync(path)) throw new PassportError(`no Passport in ${home}: pair one first with countersign passport pair --url URL --code CODE${home === defaultHome() ? '' : ` --home ${home}`}`);
  try {
    const file = JSON.parse(readFileSync(path, 'utf8')) as PassportFile;
    if (file.version !== 1 || !file.deviceId || !file.privateJwk?.d) throw new Error('missing fields');
    return file;
  } catch (error) {
    throw new PassportError(`${path} is not a Passport key file (${(error as Error).message}); pair again with another --home, or remove it`);
  }
}

const defaultHome = () => join(homedir(), '.countersign-passport');

function checkUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error('not http(s)');
    return parsed.origin;
  } catch {
    throw new PassportError(`--url "${url}" is not a server address; give the Countersign URL, e.g. http://localhost:8787`);
  }
}

/** One call to the device API; a refusal becomes a PassportError carrying the server's own message. */
async function call<T>(url: string, path: string, init: { method: 'GET' | 'POST'; body?: unknown; auth?: string }): Promise<T> {
  let response: Response;
  try {
    response = await fetch(new URL(path, url), {
      method: init.method,
      headers: { accept: 'application/json', ...(init.body ? { 'content-type': 'application/json' } : {}), ...(init.auth ? { authorization: `Passport ${init.auth}` } : {}) },
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
    });
  } catch (error) {
    const cause = (error as Error & { cause?: { code?: string; message?: string } }).cause;
    throw new PassportError(`cannot reach ${url} (${cause?.code ?? cause?.message ?? (error as Error).message}); is Countersign running there? Check --url`);
  }
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new PassportError(`${url}${path} answered ${response.status} with something other than JSON; is ${url} a Countersign server?`);
  }
  if (!response.ok) {
    const error = (parsed as { error?: { code?: string; message?: string } }).error;
    throw new PassportError(`the server refused (${response.status} ${error?.code ?? 'error'}): ${error?.message ?? text.slice(0, 200)}`);
  }
  return parsed as T;
}

/** Signs bytes as the device: a compact JWS (EdDSA, kid = device id). The key is imported once per run. */
type Sign = (payload: Uint8Array) => Promise<string>;

async function deviceSigner(file: PassportFile, home: string): Promise<Sign> {
  const key = await importJWK(file.privateJwk, 'EdDSA').catch((error: Error) => {
    throw new PassportError(`${fileOf(home)} holds a key that cannot be used (${error.message}); pair again with another --home, or remove it`);
  });
  return (payload) => new CompactSign(payload).setProtectedHeader({ alg: 'EdDSA', kid: file.deviceId }).sign(key);
}

function signAuth(sign: Sign, method: string, path: string): Promise<string> {
  const claims = { method, path, iat: Math.floor(Date.now() / 1000), nonce: randomBytes(18).toString('base64url') };
  return sign(new TextEncoder().encode(JSON.stringify(claims)));
}

async function pair(values: { url?: string; code?: string; name?: string; home: string; json: boolean }, io: PassportIo): Promise<number> {
  if (!values.url || !values.code) throw new PassportError('passport pair needs --url URL and --code CODE (from countersign device pair, or "Pair a Passport" on the web app)');
  const url = checkUrl(values.url);
  if (existsSync(fileOf(values.home))) {
    throw new PassportError(`${fileOf(values.home)} already holds a paired Passport; use another --home DIR for a second one, or delete the file to pair this one again`);
  }
  const { publicKey, privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  const [publicJwk, privateJwk] = await Promise.all([exportJWK(publicKey), exportJWK(privateKey)]);
  const paired = await call<{ deviceId: string; name: string; approverEmail: string | null; pairedAt: string }>(url, '/api/v1/devices/pair', {
    method: 'POST',
    body: { code: values.code, ...(values.name ? { name: values.name } : {}), publicJwk },
  });
  const file: PassportFile = { version: 1, url, deviceId: paired.deviceId, name: paired.name, approverEmail: paired.approverEmail, publicJwk, privateJwk, pairedAt: paired.pairedAt };
  mkdirSync(values.home, { recursive: true, mode: 0o700 });
  writeFileSync(fileOf(values.home), JSON.stringify(file, null, 2) + '\n', { mode: 0o600, flag: 'wx' });
  chmodSync(fileOf(values.home), 0o600);
  if (values.json) io.write(JSON.stringify({ deviceId: file.deviceId, name: file.name, approverEmail: file.approverEmail, url, file: fileOf(values.home) }) + '\n');
  else io.write(`Paired "${file.name}" (${file.deviceId}) with ${file.approverEmail ?? 'its approver'} at ${url}.\nKey kept in ${fileOf(values.home)}. Next: countersign passport${values.home === defaultHome() ? '' : ` --home ${values.home}`}\n`);
  return 0;
}

/**
 * A value as the device shows it, through the web page's hygiene: hidden characters as visible escapes, flags
 * spelled out, lines kept in their box. `multiline` is free text (agent or upstream words), which keeps line breaks.
 */
function shown(value: unknown, indent: string, flags: Flag[] = [], multiline = false, quote = false): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value) ?? String(value);
  const { pieces, flags: found } = inspect(text, { multiline });
  const all = [...new Set([...flags, ...found])];
  const body = pieces.map((p) => p.text).join('').replace(/\r?\n/g, `\n${indent}`);
  return (quote ? `“${body}”` : body) + all.map((f) => `\n${indent}! ${FLAG_TEXT[f]}`).join('');
}

function fieldText(field: IntentField, indent: string): string {
  if (field.writtenBy && typeof field.writtenBy === 'object') {
    // Upstream free text: quoted on its own lines, never run into Countersign's words.
    return `\n${indent}${shown(String(field.value), indent, [], true, true)}`;
  }
  if (field.kind === 'money') {
    const money = formatMoney(field.value, field.currency);
    return shown(money.text, indent, money.flags);
  }
  if (field.kind === 'url') {
    const url = displayUrl(String(field.value));
    return shown(url.text, indent, url.flags);
  }
  return shown(String(field.value), indent);
}

/** "Title (written on GitHub by @octocat)" for upstream text, the plain label otherwise. */
function labelText(field: IntentField, indent: string): string {
  const author = field.writtenBy && typeof field.writtenBy === 'object' ? ` (${shown(authorLine(field.writtenBy), indent)})` : '';
  return `${shown(field.label, indent)}${author}`;
}

export function screen(item: InboxItem): string {
  const { intent, body } = item;
  const lines = [
    '┌─ Passport ────────────────────────────────────────────',
    `│ ${shown(intent.summary, '│ ')}`,
    ...(item.unknown ? [`│ THIS MAY OR MAY NOT HAVE RUN: ${shown(item.unknown.message, '│ ')}`, `│ check upstream: ${shown(item.unknown.check ?? '(no hint)', '│ ')}`] : []),
    `│ ${intent.consequence}, ${intent.reversible ? 'reversible' : 'NOT reversible'}${intent.sandbox ? ' · SANDBOX' : ''}`,
    `│ tool ${body.tool} · agent ${shown(body.principal.agentName, '│   ')} (owner ${shown(body.principal.owner, '│   ')})`,
    ...intent.fields.filter((f) => f !== null && typeof f === 'object').map((f) => `│ ${labelText(f, '│   ')}: ${fieldText(f, '│   ')}`),
    ...Object.entries(body.pins).map(([k, v]) => `│ pin ${shown(k, '│   ')} = ${shown(typeof v === 'string' ? v : JSON.stringify(v), '│   ')}`),
    ...(Array.isArray(intent.agentText) ? intent.agentText : []).filter((t) => t !== null && typeof t === 'object').flatMap((t) => [
      `│ ┌ The agent's own words (${shown(t.label, '│ │ ')}), not checked by Countersign:`,
      `│ │ ${shown(t.text, '│ │ ', [], true)}`,
      '│ └',
    ]),
    `│ expires ${body.expiresAt}${item.approvals ? ` · approvals ${item.approvals.approved}/${item.approvals.required}` : ''}`,
    `│ fingerprint ${fingerprint(String(item.digest))} (the web page shows the same)`,
    `│ digest ${item.digest}`,
    '└───────────────────────────────────────────────────────',
  ];
  return lines.join('\n') + '\n';
}

interface Outcome {
  requestId: string;
  decision?: ApprovalDecision;
  state?: string;
  refused?: string;
}

const DONE: Record<ApprovalDecision, string> = { approve: 'Approved', reject: 'Rejected', mark_done: 'Marked as done', run_again: 'Running again' };

/** What the person said for this item: an approval for a pending one, Mark as done / Run again for an unknown one. */
async function choose(item: InboxItem, mode: ApprovalDecision | null, resolve: Map<string, ApprovalDecision>, io: PassportIo, json: boolean): Promise<ApprovalDecision | null> {
  if (!item.unknown) {
    if (mode || !io.ask) return mode;
    const answer = (await io.ask('Approve? [y/N/r=reject] ')).trim().toLowerCase();
    return answer === 'y' || answer === 'yes' ? 'approve' : answer === 'r' || answer === 'reject' ? 'reject' : null;
  }
  // Never settled by --approve-all: only someone who checked upstream says whether it ran.
  const said = resolve.get(item.id);
  if (said) return said;
  if (io.ask && !mode) {
    const answer = (await io.ask('Did it run? [d=yes, mark as done / a=no, run again / N=skip] ')).trim().toLowerCase();
    if (answer === 'd' || answer === 'done') return 'mark_done';
    if (answer === 'a' || answer === 'again') return 'run_again';
  }
  if (!json) io.write(`Left for you to check upstream; then pass --mark-done ${item.id} (it ran) or --run-again ${item.id} (it did not).\n`);
  return null;
}

async function decideOne(sign: Sign, url: string, item: InboxItem, mode: ApprovalDecision | null, io: PassportIo, json: boolean, resolve: Map<string, ApprovalDecision> = new Map(), reason: string | null = null): Promise<Outcome | null> {
  // The device's own check: the digest it signs must be the one it computes from what it was shown.
  let computed: string;
  try {
    computed = requestDigest(item.body);
  } catch (error) {
    computed = `(cannot compute: ${(error as Error).message})`;
  }
  const obj = (v: unknown) => v !== null && typeof v === 'object' && !Array.isArray(v);
  const body = item.body as Partial<RequestBody> | undefined;
  if (!obj(body) || typeof body!.tool !== 'string' || !obj(body!.args) || !obj(body!.pins) || !obj(body!.principal) || typeof body!.expiresAt !== 'string') {
    computed = '(the request body is not a Countersign request: it lacks tool, args, pins, principal or expiresAt)';
  } else if (!obj(item.intent) || typeof item.intent.summary !== 'string' || !Array.isArray(item.intent.fields)) {
    computed = '(no readable intent came with it)';
  }
  if (computed !== item.digest) {
    const refused = `the server's digest ${String(item.digest)} does not match the request it sent (computed ${computed}); not signing`;
    if (!json) io.write(`Request ${item.id}: REFUSED: ${refused}. Check this request on the web app.\n`);
    return { requestId: item.id, refused };
  }
  if (!json) io.write(screen(item));
  const decision = await choose(item, mode, resolve, io, json);
  if (!decision) {
    if (!item.unknown && !json) io.write('Skipped: not decided.\n');
    return null;
  }
  // A reason goes with what the person saw upstream, or with a rejection; it is inside the signed bytes.
  let said = decision === 'mark_done' || decision === 'run_again' || decision === 'reject' ? reason : null;
  if (decision === 'reject' && !mode && io.ask) said = (await io.ask('Reason for rejecting (optional, sent to the agent): ')).trim() || null;
  if (said !== null && said.length > 2000) {
    io.write(`Skipped: a reason holds at most 2000 characters (this one has ${said.length}); nothing was signed.\n`);
    return null;
  }
  const jws = await sign(approvalSigningBytes(item.digest, decision, said));
  const path = '/api/v1/devices/decide';
  try {
    const result = await call<{ state: string; message: string }>(url, path, {
      method: 'POST',
      auth: await signAuth(sign, 'POST', path),
      body: { requestId: item.id, decision, jws, reason: said },
    });
    if (!json) io.write(`${DONE[decision]}: ${result.message} (now ${result.state})\n`);
    return { requestId: item.id, decision, state: result.state };
  } catch (error) {
    if (!(error instanceof PassportError)) throw error;
    if (!json) io.write(`Request ${item.id}: ${error.message}\n`);
    return { requestId: item.id, decision, refused: error.message };
  }
}

interface RunValues {
  url?: string; home: string; once: boolean; approveAll: boolean; rejectAll: boolean; json: boolean;
  markDone: string[]; runAgain: string[]; reason: string | null;
}

async function run(values: RunValues, io: PassportIo): Promise<number> {
  const file = readPassport(values.home);
  if (values.approveAll && values.rejectAll) throw new PassportError('choose one of --approve-all and --reject-all');
  const mode: ApprovalDecision | null = values.approveAll ? 'approve' : values.rejectAll ? 'reject' : null;
  const resolve = new Map<string, ApprovalDecision>([...values.markDone.map((id) => [id, 'mark_done'] as const), ...values.runAgain.map((id) => [id, 'run_again'] as const)]);
  if (resolve.size < values.markDone.length + values.runAgain.length) throw new PassportError('a request is named twice in --mark-done / --run-again; say once whether it ran');
  if (!mode && !io.ask && resolve.size === 0) throw new PassportError('not on a terminal, so nobody can answer "Approve?": pass --approve-all or --reject-all');
  if (!values.once && values.json) throw new PassportError('--json prints one object, so it needs --once');
  const url = checkUrl(values.url ?? file.url);
  const sign = await deviceSigner(file, values.home);
  const handled = new Set<string>();
  const outcomes: Outcome[] = [];
  if (!values.json) io.write(`Passport "${file.name}" (${file.deviceId}) for ${file.approverEmail ?? 'its approver'} at ${url}${values.once ? '' : '; polling every 2 s, Ctrl-C to stop'}\n`);
  for (;;) {
    const path = '/api/v1/devices/inbox';
    let inbox: { requests: InboxItem[] };
    try {
      inbox = await call<{ requests: InboxItem[] }>(url, path, { method: 'GET', auth: await signAuth(sign, 'GET', path) });
      if (!Array.isArray(inbox.requests)) throw new PassportError(`${url} sent an inbox without a list of requests; is it a Countersign server?`);
    } catch (error) {
      // Polling rides out a restarting server; a single pass reports and stops.
      if (values.once || !(error instanceof PassportError)) throw error;
      io.write(`${error.message}; retrying in 2 s\n`);
      await new Promise((done) => setTimeout(done, 2000));
      continue;
    }
    const fresh = inbox.requests.filter((r) => !handled.has(r.id));
    if (values.once && fresh.length === 0 && !values.json) io.write('Nothing waiting for you.\n');
    for (const item of fresh) {
      handled.add(item.id);
      const outcome = await decideOne(sign, url, item, mode, io, values.json, resolve, values.reason);
      if (outcome) outcomes.push(outcome);
    }
    if (values.once) break;
    await new Promise((done) => setTimeout(done, 2000));
  }
  for (const [requestId, decision] of resolve) {
    if (handled.has(requestId)) continue;
    const refused = `request ${requestId} is not in this Passport's inbox as one that may or may not have run`;
    if (!values.json) io.write(`${refused}.\n`);
    outcomes.push({ requestId, decision, refused });
  }
  const refused = outcomes.filter((o) => o.refused).length;
  if (values.json) io.write(JSON.stringify({ deviceId: file.deviceId, url, decided: outcomes.filter((o) => !o.refused), refused: outcomes.filter((o) => o.refused) }) + '\n');
  return refused > 0 ? 1 : 0;
}

/** Entry point for `countersign passport ...`; returns the exit code. */
export async function passportMain(argv: string[], io: PassportIo = terminalIo()): Promise<number> {
  const pairing = argv[0] === 'pair';
  let values;
  try {
    values = parseArgs({
      args: pairing ? argv.slice(1) : argv,
      options: {
        url: { type: 'string' }, code: { type: 'string' }, name: { type: 'string' }, home: { type: 'string' },
        once: { type: 'boolean' }, 'approve-all': { type: 'boolean' }, 'reject-all': { type: 'boolean' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
        'mark-done': { type: 'string', multiple: true }, 'run-again': { type: 'string', multiple: true }, reason: { type: 'string' },
      },
      strict: true,
    }).values;
  } catch (error) {
    io.write(`countersign passport: ${(error as Error).message}\n\n${PASSPORT_HELP}`);
    return 2;
  }
  if (values.help) {
    io.write(PASSPORT_HELP);
    return 0;
  }
  const home = resolve(values.home ?? defaultHome());
  const json = values.json ?? false;
  try {
    if (pairing) return await pair({ url: values.url, code: values.code, name: values.name, home, json }, io);
    return await run({
      url: values.url, home, once: values.once ?? false, approveAll: values['approve-all'] ?? false, rejectAll: values['reject-all'] ?? false, json,
      markDone: values['mark-done'] ?? [], runAgain: values['run-again'] ?? [], reason: values.reason || null,
    }, io);
  } catch (error) {
    if (!(error instanceof PassportError)) throw error;
    io.write(json ? JSON.stringify({ error: { code: 'passport', message: error.message } }) + '\n' : `countersign passport: ${error.message}\n`);
    return 2;
  }
}
