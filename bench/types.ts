/** A numeric command-line option of a benchmark: `--<name> N`. */
export interface BenchOption {
  default: number;
  /** Smallest accepted value. */
  min: number;
  description: string;
}

/** A list option of a benchmark: `--<name> N,N,...` (at least one value). */
export interface BenchListOption {
  default: readonly number[];
  /** Smallest accepted value of each element. */
  min: number;
  description: string;
}

export interface Benchmark {
  name: string;
  /** The question the benchmark answers, printed before it runs. */
  question: string;
  options: Record<string, BenchOption>;
  listOptions?: Record<string, BenchListOption>;
  /** Options whose value is text the benchmark parses itself (`--sizes 100k,1M`); absent when not given. */
  textOptions?: Record<string, { description: string }>;
  /** Runs the benchmark, prints its results, writes its JSON; rejects on failure. */
  run(params: Record<string, number>, signal: AbortSignal, lists: Record<string, number[]>, text: Record<string, string | undefined>): Promise<void>;
}
