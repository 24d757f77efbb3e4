/** The policy engine: compile once at load, evaluate per request in microseconds. */
export { compilePolicy } from './compile.ts';
export { createBudgetStore, type BudgetStore } from './budget.ts';
export { BUDGET_KEY } from './evaluate.ts';
export { parseDuration } from './compile.ts';
export type { BudgetReader, CompileOptions, CompiledPolicy, PolicyConfig, PolicyExplanation } from './types.ts';
export type { PolicyAgent, PolicyInput, RuleConfig, RuleLimit, TraceStep } from './types.ts';
