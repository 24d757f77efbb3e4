// Live expiry countdowns: each <time data-expires> counts down to its ISO timestamp.

function format(ms: number): string {
  if (ms <= 0) return 'expired';
  const total = Math.floor(ms / 1000);
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const seconds = total % 60;
  const mm = String(minutes).padStart(2, '0');
  const ss = String(seconds).padStart(2, '0');
  return hours > 0 ? `${hours}h ${mm}m left` : `${minutes}:${ss} left`;
}

export function tick(): void {
  for (const element of document.querySelectorAll<HTMLElement>('[data-expires]')) {
    const at = Date.parse(element.dataset.expires ?? '');
    if (Number.isNaN(at)) continue;
    element.textContent = format(at - Date.now());
    element.classList.toggle('expired', at <= Date.now());
  }
}

/** Starts ticking every second; new elements (live inbox updates) are picked up on the next tick. */
export function startCountdowns(): void {
  tick();
  setInterval(tick, 1000);
}
