/**
 * Metric names (one string-literal union, TRL's names where TRL has one) and the bounded history
 * store that plots read.
 */

export const METRIC_NAMES = [
  'step',
  'stage',
  'generation',
  'reward',
  'reward_std',
  'frac_reward_zero_std',
  'kl',
  'entropy',
  'clip_ratio/low_mean',
  'clip_ratio/high_mean',
  'loss/policy',
  'loss/value',
  'explained_variance',
  'grad_norm',
  'completions/mean_length',
  'completions/mean_length_correct',
  'completions/mean_length_incorrect',
  'completions/clipped_share',
  'completions/worked_share',
  'eval/accuracy',
  'eval/accuracy_fresh',
  'eval/mean_length',
  'eval/worked_share',
  'eval/sampled_accuracy',
  'eval/sampled_length',
  'eval/sampled_worked_share',
  'teacher/accuracy',
  'teacher/ceiling',
  'cost/samples',
  'cost/tokens',
  'cost/flops',
  'time/seconds',
  'moe/active_params',
  'moe/total_params',
  'moe/routing_entropy',
  'moe/routing_entropy_max',
  'moe/aux_loss',
] as const;

export type FixedMetric = (typeof METRIC_NAMES)[number];
/** Per-subset accuracies: `eval/accuracy/<subset>`; teacher per subset likewise. */
export type SubsetMetric = `eval/accuracy/${string}` | `eval/accuracy_fresh/${string}` | `teacher/accuracy/${string}` | `teacher/ceiling/${string}`;
/** Per expert of a mixture: `moe/expert_load/<i>`; per number format: `eval/accuracy@<format>`, `quant/bytes@<format>`. */
export type IndexedMetric = `moe/expert_load/${number}` | `eval/accuracy@${string}` | `quant/bytes@${string}`;
export type MetricName = FixedMetric | SubsetMetric | IndexedMetric;

/** One eval point: metric -> value. `stage` is the index of the pipeline stage, `generation` counts from 1. */
export type MetricRow = { [K in MetricName]?: number };

/** Metrics an algorithm reports for one update (averaged between eval points). */
export type StepMetrics = Partial<Record<
  | 'reward' | 'reward_std' | 'frac_reward_zero_std' | 'kl' | 'entropy' | 'clip_ratio/low_mean'
  | 'clip_ratio/high_mean' | 'loss/policy' | 'loss/value' | 'explained_variance' | 'grad_norm'
  | 'completions/mean_length' | 'completions/mean_length_correct' | 'completions/mean_length_incorrect'
  | 'completions/clipped_share' | 'completions/worked_share',
  number
>>;

/** The median of the finite values (NaN if there are none): summaries over seeds (sweeps, bench). */
export function median(xs: number[]): number {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!s.length) return NaN;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Running mean of step metrics between eval points; a metric never reported is left out. */
export class StepAverager {
  private sums = new Map<string, number>();
  private counts = new Map<string, number>();

  add(m: StepMetrics): void {
    for (const [k, v] of Object.entries(m)) {
      if (v === undefined || !Number.isFinite(v)) continue;
      this.sums.set(k, (this.sums.get(k) ?? 0) + v);
      this.counts.set(k, (this.counts.get(k) ?? 0) + 1);
    }
  }

  /** The sums and counts so far (for checkpoints): [name, sum, count]. */
  state(): [string, number, number][] {
    return [...this.sums].map(([k, s]) => [k, s, this.counts.get(k)!]);
  }

  setState(entries: [string, number, number][]): void {
    this.sums.clear();
    this.counts.clear();
    for (const [k, s, c] of entries) {
      this.sums.set(k, s);
      this.counts.set(k, c);
    }
  }

  /** The means, then reset. */
  flush(): StepMetrics {
    const out: Record<string, number> = {};
    for (const [k, s] of this.sums) out[k] = s / this.counts.get(k)!;
    this.sums.clear();
    this.counts.clear();
    return out as StepMetrics;
  }
}

/**
 * A bounded series for plotting: keeps at most `capacity` points. When full, neighbouring pairs
 * are merged (their mean, keeping the min and max for a band), so a 100k-step run plots as fast
 * as a 100-step one and the shape survives.
 */
export class BoundedSeries {
  xs: number[] = [];
  ys: number[] = [];
  lo: number[] = [];
  hi: number[] = [];
  private weight: number[] = [];
  /** Incoming points merged into one stored point (doubles at every compaction). */
  private stride = 1;
  private pending: { x: number; y: number; lo: number; hi: number; n: number } | null = null;

  constructor(readonly capacity = 400) {}

  push(x: number, y: number): void {
    if (!Number.isFinite(y)) return;
    const p = this.pending ?? { x, y: 0, lo: y, hi: y, n: 0 };
    p.x = x;
    p.y = (p.y * p.n + y) / (p.n + 1);
    p.lo = Math.min(p.lo, y);
    p.hi = Math.max(p.hi, y);
    p.n += 1;
    this.pending = p;
    if (p.n >= this.stride) {
      this.xs.push(p.x);
      this.ys.push(p.y);
      this.lo.push(p.lo);
      this.hi.push(p.hi);
      this.weight.push(p.n);
      this.pending = null;
      if (this.xs.length >= this.capacity) this.compact();
    }
  }

  private compact(): void {
    const n = Math.floor(this.xs.length / 2);
    for (let i = 0; i < n; i++) {
      const a = 2 * i;
      const b = a + 1;
      const w = this.weight[a] + this.weight[b];
      this.xs[i] = this.xs[b];
      this.ys[i] = (this.ys[a] * this.weight[a] + this.ys[b] * this.weight[b]) / w;
      this.lo[i] = Math.min(this.lo[a], this.lo[b]);
      this.hi[i] = Math.max(this.hi[a], this.hi[b]);
      this.weight[i] = w;
    }
    const odd = this.xs.length % 2 === 1;
    const keep = n + (odd ? 1 : 0);
    if (odd) {
      const last = this.xs.length - 1;
      this.xs[n] = this.xs[last];
      this.ys[n] = this.ys[last];
      this.lo[n] = this.lo[last];
      this.hi[n] = this.hi[last];
      this.weight[n] = this.weight[last];
    }
    this.xs.length = this.ys.length = this.lo.length = this.hi.length = this.weight.length = keep;
    this.stride *= 2;
  }

  get length(): number {
    return this.xs.length;
  }
}

/**
 * Every eval row of a run, kept for export, in columns: one growable Float64Array per metric
 * (NaN where a row lacks it). A row object costs ~2 KB of heap (30-odd boxed numbers under named
 * keys); a row here costs 8 bytes per metric, so a 20,000-step run's rows no longer grow the heap
 * of a page that trains four of them. Values read back are the values pushed (float64 both ways);
 * a metric pushed as NaN reads back as absent, as export writes both alike.
 */
export class RowStore {
  private cols = new Map<string, Float64Array>();
  /** Rows kept: indices [offset, n); those below were forgotten (they are stored elsewhere). */
  private n = 0;
  private offset = 0;
  private cap = 64;

  /** Rows pushed (forgotten ones included: indices are never reused). */
  get length(): number {
    return this.n;
  }

  /** The first row still held. */
  get first(): number {
    return this.offset;
  }

  push(row: MetricRow): void {
    if (this.n - this.offset === this.cap) {
      this.cap *= 2;
      for (const [k, c] of this.cols) {
        const g = new Float64Array(this.cap).fill(NaN);
        g.set(c);
        this.cols.set(k, g);
      }
    }
    const j = this.n - this.offset;
    for (const [k, v] of Object.entries(row)) {
      if (v === undefined) continue;
      let c = this.cols.get(k);
      if (!c) {
        c = new Float64Array(this.cap).fill(NaN);
        this.cols.set(k, c);
      }
      c[j] = v;
    }
    this.n += 1;
  }

  /** Keep the first n rows only. */
  truncate(n: number): void {
    n = Math.max(this.offset, n);
    if (n >= this.n) return;
    for (const c of this.cols.values()) c.fill(NaN, n - this.offset, this.n - this.offset);
    this.n = n;
  }

  /** Let go of the rows below index `below` (kept elsewhere, e.g. in the browser's storage): memory stays bounded. */
  forget(below: number): void {
    const drop = Math.min(below, this.n) - this.offset;
    if (drop <= 0) return;
    for (const c of this.cols.values()) {
      c.copyWithin(0, drop, this.n - this.offset);
      c.fill(NaN, this.n - this.offset - drop);
    }
    this.offset += drop;
  }

  /** One value of row i (undefined where the row lacks it, or was forgotten), without building the row. */
  value(i: number, key: string): number | undefined {
    if (i < this.offset) return undefined;
    const v = this.cols.get(key)?.[i - this.offset];
    return v === undefined || Number.isNaN(v) ? undefined : v;
  }

  /** Row i as an object (keys in first-seen order). */
  row(i: number): MetricRow {
    if (i < this.offset || i >= this.n) throw new RangeError(`row ${i} of ${this.offset}..${this.n}`);
    const r: Record<string, number> = {};
    for (const [k, c] of this.cols) if (!Number.isNaN(c[i - this.offset])) r[k] = c[i - this.offset];
    return r as MetricRow;
  }

  /** The rows held, as objects (all of them unless some were forgotten). */
  rows(): MetricRow[] {
    return Array.from({ length: this.n - this.offset }, (_, i) => this.row(this.offset + i));
  }
}
