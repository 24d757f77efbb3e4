import { startAuthentication, type PublicKeyCredentialRequestOptionsJSON } from '@simplewebauthn/browser';
import { describeError, postJson, showStatus } from './common.ts';
import { startCountdowns } from './countdown.ts';

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
const reason = document.getElementById('reason') as HTMLTextAreaElement | null;

async function decide(decision: 'approve' | 'reject'): Promise<void> {
  if (!base) return;
  showStatus(`Confirm with your passkey to ${decision}…`, 'info');
  const { options } = await postJson<{ options: PublicKeyCredentialRequestOptionsJSON }>(`${base}/options`, { decision });
  const response = await startAuthentication({ optionsJSON: options });
  const outcome = await postJson<Outcome>(`${base}/decide`, {
    decision,
    reason: decision === 'reject' ? (reason?.value ?? null) : null,
    response,
  });
  // The decision counted: the buttons go, the outcome stays.
  actions?.remove();
  const state = document.getElementById('state');
  if (state) state.textContent = outcome.state;
  showStatus(outcome.message, 'info');
  document.getElementById('status')?.setAttribute('data-outcome', outcome.state);
}

for (const [button, decision] of [
  [approve, 'approve'],
  [reject, 'reject'],
] as const) {
  button?.addEventListener('click', async () => {
    if (approve) approve.disabled = true;
    if (reject) reject.disabled = true;
    try {
      await decide(decision);
    } catch (error) {
      showStatus(describeError(error), 'error');
      document.getElementById('status')?.setAttribute('data-outcome', 'refused');
    } finally {
      if (approve) approve.disabled = false;
      if (reject) reject.disabled = false;
    }
  });
}

startCountdowns();
