/** Durations as written in policy: `30s`, `15m`, `2h`, `1d`, `1w`; budget windows may also say hour, day, week. */

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 };
const NAMED_WINDOWS: Record<string, number> = { hour: 3600, day: 86_400, week: 604_800 };
const UNIT_WORDS: Record<string, string> = { s: 'second', m: 'minute', h: 'hour', d: 'day', w: 'week' };
const DURATION = /^([1-9][0-9]{0,6})([smhdw])$/;

/** Seconds in a duration like `15m`, or null when it is not one. */
export function parseDuration(text: unknown): number | null {
  if (typeof text !== 'string') return null;
  const match = DURATION.exec(text.trim());
  if (!match) return null;
  return Number(match[1]) * UNIT_SECONDS[match[2]!]!;
}

/** Seconds in a budget window: `hour`, `day`, `week` or a duration. */
export function parseWindow(text: unknown): number | null {
  if (typeof text === 'string' && text in NAMED_WINDOWS) return NAMED_WINDOWS[text]!;
  return parseDuration(text);
}

export const DURATION_HELP = 'write a whole number followed by s, m, h, d or w, e.g. "15m", "2h", "1d"';
export const WINDOW_HELP = 'write hour, day, week, or a duration such as "24h" or "7d"';

/** "the last day", "the last 24 hours": for explanations. */
export function describeWindow(text: string): string {
  if (text in NAMED_WINDOWS) return `the last ${text}`;
  const match = DURATION.exec(text.trim());
  if (!match) return `the last ${text}`;
  const count = Number(match[1]);
  const word = UNIT_WORDS[match[2]!]!;
  return count === 1 ? `the last ${word}` : `the last ${count} ${word}s`;
}
