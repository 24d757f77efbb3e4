// Live request page: the server's event stream (/events?request=ID) says when this request changed (someone else
// decided, it ran, it expired); the page then fetches its own HTML again and swaps in the parts that show progress,
// without a reload and without touching what the reader is typing.

const SWAPPED = ['status-line', 'progress', 'final', 'unknown'];

function keepOpen(current: Element, fresh: Element): void {
  // A section the reader opened or closed stays that way.
  if (current instanceof HTMLDetailsElement && fresh instanceof HTMLDetailsElement) fresh.open = current.open;
}

async function refresh(busy: () => boolean): Promise<void> {
  const response = await fetch(window.location.pathname, { credentials: 'same-origin' });
  if (!response.ok || busy()) return;
  const parsed = new DOMParser().parseFromString(await response.text(), 'text/html');
  const head = document.querySelector('.decision-head');
  for (const id of SWAPPED) {
    const current = document.getElementById(id);
    const fresh = parsed.getElementById(id);
    if (current && fresh) {
      keepOpen(current, fresh);
      current.replaceWith(document.adoptNode(fresh));
    } else if (fresh && head && id !== 'progress') head.after(document.adoptNode(fresh));
    else if (current && !fresh && id !== 'progress') current.remove();
  }
  // The buttons go only when the request stopped waiting for this reader (others finished it, it expired); a
  // decision of the reader's own is shown by the page script and left alone.
  const bar = document.getElementById('decide');
  const freshBar = parsed.getElementById('decide');
  if (bar?.querySelector('#actions') && !freshBar?.querySelector('#actions')) {
    if (freshBar) bar.replaceWith(document.adoptNode(freshBar));
    else bar.remove();
  } else if (bar && !freshBar) {
    // Decided here and now no longer waiting: the bar keeps its message but stops covering the page.
    bar.classList.add('done');
  }
  // A decision made here said "it runs now"; once it ran (or failed), the message says what happened.
  const final = document.getElementById('final-text')?.textContent;
  const status = document.getElementById('status');
  if (final && status?.dataset.outcome) status.textContent = final;
  const state = parsed.getElementById('request')?.dataset.state;
  if (state) document.getElementById('request')?.setAttribute('data-state', state);
  document.body.dataset.refreshed = String(Date.now());
  document.dispatchEvent(new CustomEvent('countersign:refreshed'));
}

/** Follows the request's changes; `busy` is true while the reader's own decision is in flight. */
export function followRequest(requestId: string, busy: () => boolean): void {
  let first = true;
  const events = new EventSource(`/events?request=${encodeURIComponent(requestId)}`);
  events.addEventListener('request', () => {
    // The first event describes what the page already shows.
    if (first) {
      first = false;
      document.body.dataset.live = 'true';
      return;
    }
    if (!busy()) void refresh(busy);
  });
}
