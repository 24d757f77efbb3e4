export interface BenchResult {
  name: string;
  value: number;
  unit: string;
  /** Measured in the same run. A ratio is printed only when its unit is the value's unit. */
  baseline?: { name: string; value: number; unit: string };
  /** The target in words, as the issue states it. */
  target?: string;
  /** The target as bounds on `value`, so the report can say met or missed. */
  goal?: { min?: number; max?: number };
}
