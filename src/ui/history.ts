/**
 * What the plots read: per run, one point per eval step, the mean over the run's seeds with the
 * seeds' min and max (the band). Bounded like src/core/metrics.ts's BoundedSeries: when full,
 * neighbouring points merge (weighted mean, min of lows, max of highs, the later x), so a
 * 100k-step run plots as fast as a 100-step one. Whole rows are merged, not single metrics, so
 * every metric and every x-axis (steps, samples, tokens, FLOPs, seconds) stays aligned.
 */
import type { MetricRow } from '../core/metrics';

export interface Point {
  mean: MetricRow;
  lo: MetricRow;
  hi: MetricRow;
  /** Eval rows merged into this point. */
  n: number;
}

type Row = Record<string, number | undefined>;

/** Mean, min and max over seeds of one eval step (rows from different seeds, same step). */
export function aggregate(rows: MetricRow[]): Point {
  const mean: Row = {};
  const lo: Row = {};
  const hi: Row = {};
  const count: Record<string, number> = {};
  for (const r of rows as Row[]) {
    for (const [k, v] of Object.entries(r)) {
      if (v === undefined || !Number.isFinite(v)) continue;
      mean[k] = (mean[k] ?? 0) + v;
      count[k] = (count[k] ?? 0) + 1;
      lo[k] = Math.min(lo[k] ?? Infinity, v);
      hi[k] = Math.max(hi[k] ?? -Infinity, v);
    }
  }
  for (const k of Object.keys(mean)) mean[k] = mean[k]! / count[k];
  return { mean, lo, hi, n: 1 } as Point;
}

/** Later-wins keys: positions on the x-axes, the stage index and the generation. */
const LAST = new Set(['step', 'stage', 'generation', 'cost/samples', 'cost/tokens', 'cost/flops', 'time/seconds']);

function merge(a: Point, b: Point): Point {
  const mean: Row = {};
  const lo: Row = {};
  const hi: Row = {};
  const am = a.mean as Row;
  const bm = b.mean as Row;
  for (const k of new Set([...Object.keys(am), ...Object.keys(bm)])) {
    const x = am[k];
    const y = bm[k];
    if (LAST.has(k)) {
      mean[k] = y ?? x;
      lo[k] = (b.lo as Row)[k] ?? (a.lo as Row)[k];
      hi[k] = (b.hi as Row)[k] ?? (a.hi as Row)[k];
    } else if (x === undefined) {
      mean[k] = y;
      lo[k] = (b.lo as Row)[k];
      hi[k] = (b.hi as Row)[k];
    } else if (y === undefined) {
      mean[k] = x;
      lo[k] = (a.lo as Row)[k];
      hi[k] = (a.hi as Row)[k];
    } else {
      mean[k] = (x * a.n + y * b.n) / (a.n + b.n);
      lo[k] = Math.min((a.lo as Row)[k]!, (b.lo as Row)[k]!);
      hi[k] = Math.max((a.hi as Row)[k]!, (b.hi as Row)[k]!);
    }
  }
  return { mean, lo, hi, n: a.n + b.n } as Point;
}

export class BoundedHistory {
  private points: Point[] = [];
  /** Incoming points per stored point (doubles at every compaction). */
  private stride = 1;
  private pending: Point | null = null;

  constructor(readonly capacity = 300) {}

  push(p: Point): void {
    this.pending = this.pending ? merge(this.pending, p) : p;
    if (this.pending.n >= this.stride) {
      this.points.push(this.pending);
      this.pending = null;
      if (this.points.length >= this.capacity) this.compact();
    }
  }

  private compact(): void {
    const out: Point[] = [];
    for (let i = 0; i + 1 < this.points.length; i += 2) out.push(merge(this.points[i], this.points[i + 1]));
    if (this.points.length % 2 === 1) out.push(this.points[this.points.length - 1]);
    this.points = out;
    this.stride *= 2;
  }

  /** A fresh array (plots hold it in $state.raw and get a new one per update); the newest pending point included. */
  snapshot(): Point[] {
    return this.pending ? [...this.points, this.pending] : [...this.points];
  }

  /** Eval rows merged into the newest point (1 when empty). */
  get newestWeight(): number {
    return (this.pending ?? this.points[this.points.length - 1])?.n ?? 1;
  }

  get length(): number {
    return this.points.length + (this.pending ? 1 : 0);
  }
}
