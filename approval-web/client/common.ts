/**
 * Shared helpers for the page scripts. They read what they need from the page (a meta tag for the CSRF token,
 * data attributes for URLs) because the CSP allows no inline script to hand them values.
 */

export function csrfToken(): string {
  return document.querySelector<HTMLMetaElement>('meta[name="csrf-token"]')?.content ?? '';
}

/** POSTs JSON with the CSRF header; returns the parsed reply or throws with the server's message. */
export async function postJson<T>(url: string, body: unknown): Promise<T> {
  const response = await fetch(url, {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'content-type': 'application/json', accept: 'application/json', 'x-csrf-token': csrfToken() },
    body: JSON.stringify(body ?? {}),
  });
  const text = await response.text();
  let reply: unknown = null;
  try {
    reply = JSON.parse(text);
  } catch {
    throw new Error(`The server answered ${response.status} without a readable reply. Reload the page and try again.`);
  }
  if (!response.ok) {
    const error = (reply as { error?: { message?: string } }).error;
    throw new Error(error?.message ?? `The server refused the request (${response.status}).`);
  }
  return reply as T;
}

/** Shows a message in the page's live region, so screen readers announce it too. */
export function showStatus(message: string, kind: 'info' | 'error'): void {
  const region = document.getElementById('status');
  if (!region) return;
  region.textContent = message;
  region.className = `status status-${kind}`;
  region.hidden = false;
}

/** WebAuthn errors a person can act on get plain words; anything else shows its own message. */
export function describeError(error: unknown): string {
  const name = error instanceof Error ? error.name : '';
  if (name === 'NotAllowedError') return 'The passkey prompt was closed or timed out. Press the button to try again.';
  if (name === 'InvalidStateError') return 'This device already holds a passkey for your account. Sign in with it instead.';
  if (name === 'SecurityError') return 'Passkeys need this page to be opened at its configured address (https, or http://localhost).';
  return error instanceof Error ? error.message : String(error);
}

/** Runs `action` when the button is pressed, disabling it meanwhile so a double tap starts one ceremony. */
export function onPress(button: HTMLButtonElement, action: () => Promise<void>): void {
  button.addEventListener('click', async () => {
    button.disabled = true;
    try {
      await action();
    } catch (error) {
      showStatus(describeError(error), 'error');
    } finally {
      button.disabled = false;
    }
  });
}
