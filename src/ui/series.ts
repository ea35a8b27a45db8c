/** From runs' seed-aggregated histories to plot series, for one metric on the chosen x-axis. */
import { type ExperimentConfig, pipelineId, runSteps } from '../core/config';
import type { ImportedRun, ImportRow } from '../core/imports';
import { aggregate, BoundedHistory, type Point } from './history';
import type { Series, XMark } from './plots/types';
import { formatColor, importColorOf, importMarker, runColor, runMarker } from './colors';
import { t, type MessageKey } from './i18n/index.svelte';

type Row = Record<string, number | undefined>;

export function seriesFor(runs: { points: Point[] }[], config: ExperimentConfig, metric: string, x: string): Series[] {
  return runs.map((r, i) => {
    const run = config.runs[i];
    return {
      ...pointsSeries(r.points, metric, (m) => m[x]),
      id: `r${i + 1}`,
      label: `r${i + 1} ${run ? pipelineId(run.stages) : ''}`,
      color: runColor(i),
      marker: runMarker(i),
      band: (run?.seeds ?? 1) > 1,
    };
  });
}

export const hasData = (s: Series[]) => s.some((x) => x.points.length > 0);

/** The diagnostics, in the order a reader checks them (short titles; the metric key on hover). */
export const DIAGNOSTICS: { key: string; titleKey: MessageKey }[] = [
  { key: 'kl', titleKey: 'diag.kl' },
  { key: 'entropy', titleKey: 'diag.entropy' },
  { key: 'clip_ratio/low_mean', titleKey: 'diag.clip_ratio/low_mean' },
  { key: 'clip_ratio/high_mean', titleKey: 'diag.clip_ratio/high_mean' },
  { key: 'frac_reward_zero_std', titleKey: 'diag.frac_reward_zero_std' },
  { key: 'reward_std', titleKey: 'diag.reward_std' },
  { key: 'loss/policy', titleKey: 'diag.loss/policy' },
  { key: 'loss/value', titleKey: 'diag.loss/value' },
  { key: 'explained_variance', titleKey: 'diag.explained_variance' },
  { key: 'grad_norm', titleKey: 'diag.grad_norm' },
  { key: 'completions/mean_length', titleKey: 'diag.completions/mean_length' },
  { key: 'completions/mean_length_correct', titleKey: 'diag.completions/mean_length_correct' },
  { key: 'completions/mean_length_incorrect', titleKey: 'diag.completions/mean_length_incorrect' },
  { key: 'completions/worked_share', titleKey: 'diag.completions/worked_share' },
  { key: 'completions/clipped_share', titleKey: 'diag.completions/clipped_share' },
];

/**
 * What the policy writes on held-out problems, one answer sampled per problem at the run's
 * temperature (tasks whose answers may show work): from the base model's first evaluation on,
 * through every stage, so a habit's growth under RL reads as one line. Then the length of the
 * wrong answers RL sampled in training.
 */
export const WRITING: { key: string; titleKey: MessageKey; yDomain?: [number, number] }[] = [
  { key: 'eval/sampled_worked_share', titleKey: 'writing.eval/sampled_worked_share', yDomain: [0, 1] },
  { key: 'eval/sampled_length', titleKey: 'writing.eval/sampled_length' },
  { key: 'eval/sampled_accuracy', titleKey: 'writing.eval/sampled_accuracy', yDomain: [0, 1] },
  // RL rollouts only: where GRPO's 1/|o| length bias shows (Dr. GRPO).
  { key: 'completions/mean_length_incorrect', titleKey: 'writing.completions/mean_length_incorrect' },
];

/**
 * Where each multi-stage run enters its next stage (e.g. distillation ends, GRPO starts), or a new
 * generation (a fresh student), on the chosen x-axis: at that step's eval point, once the run has
 * got there. Runs that switch at the same x share one marker and one label, e.g.
 * 'r1, r2 → gen 2; r3 → grpo' (no overprinting).
 */
export function stageMarks(runs: { points: Point[]; info: { info: { stages: { algo: string; from: number; generation?: number; stage?: number }[] } } | null }[], x: string): XMark[] {
  const at = new Map<number, { color: string; groups: Map<string, string[]> }>();
  runs.forEach((r, i) => {
    const stages = r.info?.info.stages ?? [];
    for (const s of stages.slice(1)) {
      const p = r.points.find((q) => (q.mean.step ?? -1) >= s.from);
      const xv = p ? (p.mean as Row)[x] : undefined;
      if (xv === undefined || !Number.isFinite(xv)) continue;
      const what = s.stage === 0 && (s.generation ?? 1) > 1 ? t('series.gen', { n: s.generation ?? 1 }) : s.algo;
      const m = at.get(xv) ?? { color: runColor(i), groups: new Map<string, string[]>() };
      at.set(xv, m);
      const ids = m.groups.get(what) ?? [];
      ids.push(`r${i + 1}`);
      m.groups.set(what, ids);
    }
  });
  const seen = new Set<string>();
  return [...at.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([xv, m]) => {
      const label = [...m.groups.entries()].map(([what, ids]) => `${ids.join(', ')} → ${what}`).join('; ');
      const quiet = seen.has(label);
      seen.add(label);
      return { x: xv, color: m.color, label, quiet };
    });
}

/**
 * One metric at the end of each generation, against the generation number: one series per run
 * with several generations (from the run's generation-end points).
 */
export function generationSeries(runs: { genPoints: Point[] }[], config: ExperimentConfig, metric: string): Series[] {
  return runs.flatMap((r, i) => {
    const run = config.runs[i];
    if (!run || run.generations < 2) return [];
    return [{ ...pointsSeries(r.genPoints, metric, (m) => m.generation), id: `r${i + 1}`, label: `r${i + 1} ${pipelineId(run.stages)}`, color: runColor(i), marker: runMarker(i), band: run.seeds > 1 }];
  });
}

/**
 * The benchmark and the fresh set side by side: per run, held-out accuracy (solid) and the
 * accuracy on problems no run trains on (dashed). A run that trains on leaked benchmark problems
 * shows a gap; a clean one does not.
 */
export function leakSeries(runs: { points: Point[] }[], config: ExperimentConfig, x: string, suffix = ''): Series[] {
  const bench = seriesFor(runs, config, `eval/accuracy${suffix}`, x);
  const fresh = seriesFor(runs, config, `eval/accuracy_fresh${suffix}`, x);
  return bench.flatMap((b, i) => {
    const leak = config.runs[i]?.leak ?? 0;
    const tag = leak > 0 ? t('series.leakTag', { leak }) : '';
    return [
      { ...b, label: t('series.benchmark', { run: `${b.label}${tag}` }) },
      { ...fresh[i], id: `${fresh[i].id}-fresh`, label: t('series.fresh', { run: `${fresh[i].label}${tag}` }), dash: '7 4', band: false },
    ];
  });
}

/** A run read from a file (src/core/imports.ts), as the page draws it: read-only, its own colour. */
export interface ShownImport {
  id: string;
  run: ImportedRun;
  /** Its colour when imported (light theme); drawn with importColorOf(id), which follows the theme. */
  color: string;
  /** One point per step: the mean over its seeds with their min and max (bounded like a live run's). */
  points: Point[];
}

/** Per step, the seeds' rows aggregated (mean, min, max), bounded to `capacity` points. */
export function importPoints(run: ImportedRun, capacity = 300): Point[] {
  const at = new Map<number, ImportRow[]>();
  for (const s of run.seeds) for (const r of s.rows) (at.get(r.step) ?? at.set(r.step, []).get(r.step)!).push(r);
  const h = new BoundedHistory(capacity);
  for (const step of [...at.keys()].sort((a, b) => a - b)) h.push(aggregate(at.get(step)!));
  return h.snapshot();
}

/** Imported runs' series of one metric, beside the live runs' (those without it on this x-axis draw nothing). */
export function importSeries(imports: ShownImport[], metric: string, x: string): Series[] {
  return imports.map((im) => ({ ...pointsSeries(im.points, metric, (m) => m[x]), id: im.id, label: `${im.id} ${im.run.label}`, color: importColorOf(im.id), marker: importMarker(im.id), band: im.run.seeds.length > 1 }));
}

function pointsSeries(points: Point[], metric: string, xOf: (m: Row) => number | undefined): { points: { x: number; y: number; lo?: number; hi?: number }[] } {
  const out = [];
  for (const p of points) {
    const m = p.mean as Row;
    const y = m[metric];
    const xv = xOf(m);
    if (y === undefined || xv === undefined || !Number.isFinite(y) || !Number.isFinite(xv)) continue;
    out.push({ x: xv, y, lo: (p.lo as Row)[metric], hi: (p.hi as Row)[metric] });
  }
  return { points: out };
}

/**
 * An imported run matched against a live one: one metric of each (by default the same), on steps
 * or on the fraction of each run's own training (its step over its length), so runs of different
 * lengths line up start to end.
 */
export function matchSeries(
  im: ShownImport,
  metric: string,
  live: { points: Point[] } | undefined,
  liveIndex: number,
  config: ExperimentConfig,
  liveMetric: string,
  x: 'step' | 'fraction',
): Series[] {
  const out: Series[] = [];
  const run = config.runs[liveIndex];
  if (live && run) {
    const len = runSteps(config, run);
    const s = pointsSeries(live.points, liveMetric, (m) => (m.step === undefined ? undefined : x === 'step' ? m.step : m.step / len));
    out.push({ ...s, id: `r${liveIndex + 1}`, label: `r${liveIndex + 1} ${pipelineId(run.stages)}: ${liveMetric}`, color: runColor(liveIndex), marker: runMarker(liveIndex), band: run.seeds > 1 });
  }
  const s = pointsSeries(im.points, metric, (m) => (m.step === undefined ? undefined : x === 'step' ? m.step : m.step / im.run.maxStep));
  out.push({ ...s, id: im.id, label: `${im.id} ${im.run.label}: ${metric}`, color: importColorOf(im.id), marker: importMarker(im.id), band: im.run.seeds.length > 1 });
  return out;
}

/** A fixed y range widened to fit the data (an imported reward need not lie in [0, 1]). */
export function fitDomain(series: Series[], d: [number, number]): [number, number] {
  let [lo, hi] = d;
  for (const s of series) for (const p of s.points) (lo = Math.min(lo, p.lo ?? p.y, p.y)), (hi = Math.max(hi, p.hi ?? p.y, p.y));
  return [lo, hi];
}

/** Colours for many lines of one run (experts, number formats). */
export const MANY_COLORS = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac', '#1b9e77', '#d95f02', '#7570b3', '#e7298a', '#66a61e', '#e6ab02'];

/** One run's expert loads (share of routed slots per expert) over the x-axis: one line per expert. */
export function expertLoadSeries(run: { points: Point[] }, experts: number, x: string): Series[] {
  return Array.from({ length: experts }, (_, e) => ({
    ...pointsSeries(run.points, `moe/expert_load/${e}`, (m) => m[x]),
    id: `e${e}`,
    label: t('series.expert', { n: e + 1 }),
    color: MANY_COLORS[e % MANY_COLORS.length],
    band: false,
  }));
}

/** Number formats as the low-precision plots draw them (full precision first, solid and dark). */
export const FORMAT_STYLE: Record<string, { color: string; dash?: string }> = {
  fp32: { color: '#222222' }, // drawn with formatColor: the theme's near-black or near-white
  bf16: { color: '#4e79a7', dash: '6 3' },
  fp8: { color: '#59a14f', dash: '6 3' },
  int8: { color: '#f28e2b', dash: '6 3' },
  int4: { color: '#e15759', dash: '6 3' },
  ternary: { color: '#b07aa1', dash: '6 3' },
};

/**
 * One run's held-out accuracy at full precision and with its weights rounded to each format it is
 * evaluated at, labelled with the model's size in that format (from the latest eval point).
 */
export function formatSeries(run: { points: Point[] }, formats: string[], x: string): Series[] {
  const last = run.points.at(-1)?.mean as Row | undefined;
  const kb = (f: string) => {
    const b = last?.[`quant/bytes@${f}`];
    return b === undefined ? '' : ` (${b >= 1024 ? `${(b / 1024).toFixed(b >= 10240 ? 0 : 1)} KB` : `${b} B`})`;
  };
  return ['fp32', ...formats].map((f) => ({
    ...pointsSeries(run.points, f === 'fp32' ? 'eval/accuracy' : `eval/accuracy@${f}`, (m) => m[x]),
    id: f,
    label: `${f}${kb(f)}`,
    color: formatColor(f),
    dash: FORMAT_STYLE[f]?.dash,
    band: false,
  }));
}
