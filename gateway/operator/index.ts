export { createLogger, silentLogger, type Logger } from './log.ts';
export { createOperatorMetrics, serveOperatorMetrics, OPERATOR_ENDPOINT, type OperatorMetrics } from './metrics.ts';
export { createOperatorFeed, type OperatorFeed } from './feed.ts';
