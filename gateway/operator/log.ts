import pino, { type Logger } from 'pino';

export type { Logger } from 'pino';

/**
 * The operator's log: one JSON object a line (pino) when stdout is a pipe or a file, for a log shipper; colourised,
 * one readable line each (pino-pretty, in pino's worker thread) on a terminal. LOG_LEVEL picks the level (info).
 * Never given a secret: the lines carry request ids, tool names, people's emails and links, as the audit log does.
 */
export function createLogger(options: { pretty?: boolean; level?: string } = {}): Logger {
  const level = options.level ?? process.env.LOG_LEVEL ?? 'info';
  const pretty = options.pretty ?? process.stdout.isTTY === true;
  if (!pretty) return pino({ level, base: { pid: process.pid } });
  const transport = pino.transport({ target: 'pino-pretty', options: { colorize: true, ignore: 'pid,hostname,event', translateTime: 'SYS:HH:MM:ss', singleLine: true } });
  return pino({ level }, transport);
}

/** A logger that writes nothing (tests and commands that run services for a moment). */
export const silentLogger = (): Logger => pino({ level: 'silent' });
