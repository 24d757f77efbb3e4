import { startAuthentication, type PublicKeyCredentialRequestOptionsJSON } from '@simplewebauthn/browser';
import { describeError, postJson, showStatus } from './common.ts';
import { copyButtons } from './copy.ts';
import { startCountdowns, tick } from './countdown.ts';
import { followRequest } from './live.ts';
import { localTimes } from './times.ts';

// The approval ceremony: options whose challenge the kernel derived from this request's digest and the decision,
// a passkey assertion with user verification, then the assertion back to the server, which hands it to the kernel.

interface Outcome {
  state: string;
  approved: number;
  required: number;
  message: string;
}

const actions = document.getElementById('actions');
const base = actions?.dataset.url;
const approve = document.getElementById('approve') as HTMLButtonElement | null;
const reject = document.getElementById('reject') as HTMLButtonElement | null;
// On a request whose outcome is unknown: the owner says whether it ran.
const markDone = document.getElementById('mark-done') as HTMLButtonElement | null;
const runAgain = document.getElementById('run-again') as HTMLButtonElement | null;
const buttons = [approve, reject, markDone, runAgain];
type Decision = 'approve' | 'reject' | 'mark_done' | 'run_again';
const reason = document.getElementById('reason') as HTMLTextAreaElement | null;
// True while this reader's own decision is in flight: live updates wait, so they cannot pull the buttons away.
let deciding = false;

async function decide(decision: Decision): Promise<void> {
  if (!base) return;
  showStatus(`Confirm with your passkey to ${decision.replace('_', ' ')}…`, 'info');
  // The reason is read once: the passkey signs it (inside the challenge), and the same text goes with the decision.
  const said = decision === 'approve' ? null : (reason?.value ?? null);
  const { options } = await postJson<{ options: PublicKeyCredentialRequestOptionsJSON }>(`${base}/options`, { decision, reason: said });
  const response = await startAuthentication({ optionsJSON: options });
  const outcome = await postJson<Outcome>(`${base}/decide`, { decision, reason: said, response });
  // The decision counted: the buttons go, the outcome stays, and the count says what the kernel said.
  actions?.remove();
  const state = document.getElementById('state');
  if (state) state.textContent = outcome.state;
  const quorum = document.getElementById('quorum');
  if (quorum) quorum.textContent = quorum.textContent?.replace(/^\d+ of \d+/, `${outcome.approved} of ${outcome.required}`) ?? '';
  showStatus(outcome.message, 'info');
  document.getElementById('status')?.setAttribute('data-outcome', outcome.state);
}

for (const [button, decision] of [
  [approve, 'approve'],
  [reject, 'reject'],
  [markDone, 'mark_done'],
  [runAgain, 'run_again'],
] as const) {
  button?.addEventListener('click', async () => {
    buttons.forEach((b) => b && (b.disabled = true));
    deciding = true;
    try {
      await decide(decision);
    } catch (error) {
      showStatus(describeError(error), 'error');
      document.getElementById('status')?.setAttribute('data-outcome', 'refused');
    } finally {
      deciding = false;
      buttons.forEach((b) => b && (b.disabled = false));
    }
  });
}

startCountdowns();
localTimes();
copyButtons();
document.addEventListener('countersign:refreshed', () => {
  tick();
  localTimes();
  copyButtons();
});
const requestId = document.getElementById('request')?.dataset.id;
if (requestId) followRequest(requestId, () => deciding);
