/** The policy engine: compile once at load, evaluate per request in microseconds. */
export { compilePolicy, parseDuration } from './compile.ts';
export { checkEnvironment } from './cel.ts';
export { createBudgetStore, type BudgetStore } from './budget.ts';
export { BUDGET_KEY } from './evaluate.ts';
export type { BudgetReader, CompileOptions, CompiledPolicy, PolicyConfig, PolicyExplanation, PolicyAgent, PolicyInput, RuleConfig, RuleLimit, TraceStep } from './types.ts';
