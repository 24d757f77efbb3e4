export { createLogger, silentLogger, type Logger } from './log.ts';
export { createOperatorMetrics, type OperatorMetrics } from './metrics.ts';
export { createOperatorFeed, type OperatorFeed } from './feed.ts';
