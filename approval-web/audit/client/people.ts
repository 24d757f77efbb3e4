import { startAuthentication, type PublicKeyCredentialRequestOptionsJSON } from '@simplewebauthn/browser';
import { onPress, postJson, showStatus } from '../../client/common.ts';

// Revoke an agent token or remove a passkey: each press asks for a fresh passkey assertion, bound by the server
// to this approver, this action and this target, before the server sends anything to the kernel.
for (const button of document.querySelectorAll<HTMLButtonElement>('button[data-action]')) {
  const action = button.dataset.action;
  const target = button.dataset.target;
  if (!action || !target) continue;
  onPress(button, async () => {
    showStatus('Confirm with your passkey…', 'info');
    const { challengeId, options } = await postJson<{ challengeId: string; options: PublicKeyCredentialRequestOptionsJSON }>(
      '/audit/people/options',
      { action, target },
    );
    const response = await startAuthentication({ optionsJSON: options });
    const done = await postJson<{ message: string }>('/audit/people/confirm', { challengeId, action, target, response });
    showStatus(done.message, 'info');
    window.setTimeout(() => window.location.reload(), 600);
  });
}
