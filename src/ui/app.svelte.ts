/**
 * The page's state: the experiment (replaced, never mutated: a $state.raw value), the view keys,
 * the problems of the link it came from, and one RunController per run. Every change is written
 * to the URL hash; changing a setting of one run resets that run only, a shared setting resets all.
 */
import {
  type Algo,
  type ExperimentConfig,
  type Problem,
  type RunConfig,
  cloneConfig,
  crossCheck,
  defaultConfig,
  defaultRun,
  MAX_RUNS,
} from '../core/config';
import { PRESETS, presetConfig } from '../core/presets';
import { RunController } from './run.svelte';
import { type Location, type View, type XAxis, defaultView, readHash, writeHash } from './url';

export const DEFAULT_PRESET = 'first-steps';

/** What an empty link opens: the first-steps preset (or the schema's defaults if it is gone). */
export function defaultExperiment(): ExperimentConfig {
  const p = PRESETS.find((x) => x.id === DEFAULT_PRESET) ?? PRESETS[0];
  return p ? presetConfig(p) : defaultConfig();
}

/** Starting points for a new run: the algorithm and its common variants. */
export const RUN_TEMPLATES: { id: string; title: string; run: Partial<RunConfig> & { stages: Algo[] } }[] = [
  { id: 'grpo', title: 'GRPO', run: { stages: ['grpo'] } },
  { id: 'dr-grpo', title: 'Dr. GRPO (no std, constant norm, no KL)', run: { stages: ['grpo'], advStd: 'none', agg: 'constant', beta: 0 } },
  { id: 'dapo', title: 'DAPO (clip-higher, token loss, dynamic sampling)', run: { stages: ['grpo'], clipHigh: 0.28, agg: 'token', dynamicSampling: true, beta: 0 } },
  { id: 'ppo', title: 'PPO (learned critic)', run: { stages: ['ppo'] } },
  { id: 'rloo', title: 'RLOO', run: { stages: ['rloo'] } },
  { id: 'sft', title: 'Distil: SFT on teacher samples', run: { stages: ['sft'] } },
  { id: 'rsft', title: 'Distil: SFT on verified samples', run: { stages: ['rsft'] } },
  { id: 'kd', title: 'Distil: soft KD', run: { stages: ['kd'] } },
  { id: 'sft-grpo', title: 'Distil, then GRPO (R1 recipe)', run: { stages: ['sft', 'grpo'] } },
];

export const SPEEDS = [
  { value: 0, label: 'max' },
  { value: 20, label: '20 steps/s' },
  { value: 5, label: '5 steps/s' },
  { value: 1, label: '1 step/s' },
];

const sameJson = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
function shared(c: ExperimentConfig): Omit<ExperimentConfig, 'runs'> {
  const { runs, ...rest } = c;
  void runs;
  return rest;
}

export class AppState {
  config = $state.raw<ExperimentConfig>(defaultExperiment());
  view = $state<View>(defaultView());
  /** Problems of the link the page was opened with (shown in a role="alert" notice). */
  problems = $state.raw<Problem[]>([]);
  /** Settings the builder corrected to keep the experiment valid (e.g. batch a multiple of G). */
  fixes = $state.raw<Problem[]>([]);
  runs = $state.raw<RunController[]>([]);
  playing = $state(false);
  speed = $state(0);
  /** Run whose settings the builder shows. */
  selected = $state(0);
  /** The hash this page last wrote (a hashchange to it is our own). */
  private written = '';

  constructor(private readonly makeWorker: () => Worker) {}

  /** Open a location hash: rebuild the experiment it describes and report its problems. */
  open(hash: string): void {
    const loc: Location = readHash(hash, defaultExperiment);
    this.problems = loc.problems;
    this.view = loc.view;
    this.replace(loc.config, true);
  }

  /** The hash for the current state. */
  hash(): string {
    return writeHash(this.config, this.view);
  }

  writeUrl(): void {
    const h = this.hash();
    if (h === this.written && location.hash.slice(1) === h) return;
    this.written = h;
    history.replaceState(null, '', `#${h}`);
  }

  /** True if `hash` is the one this page wrote last. */
  isOwnHash(hash: string): boolean {
    return hash.replace(/^#/, '') === this.written;
  }

  /**
   * Replace the experiment. Shared settings changed (or `all`): every run restarts; otherwise
   * only the runs whose settings changed. Runs past the new count are disposed.
   */
  replace(next: ExperimentConfig, all = false): void {
    const prev = this.config;
    const fixed = cloneConfig(next);
    const fixes = crossCheck(fixed);
    this.fixes = fixes;
    this.config = fixed;
    const resetAll = all || !sameJson(shared(prev), shared(fixed));
    const runs = [...this.runs];
    while (runs.length > fixed.runs.length) runs.pop()!.dispose();
    for (let i = 0; i < fixed.runs.length; i++) {
      const isNew = !runs[i];
      if (isNew) runs[i] = new RunController(this.makeWorker);
      if (isNew || resetAll || !sameJson(prev.runs[i], fixed.runs[i])) this.restart(runs[i], i);
    }
    this.runs = runs;
    if (this.selected >= runs.length) this.selected = runs.length - 1;
    this.writeUrl();
  }

  private restart(run: RunController, i: number): void {
    run.setSpeed(this.speed);
    run.reset(this.config, i).then(() => {
      if (this.playing && run === this.runs[i]) this.playRun(run);
    });
  }

  private playRun(run: RunController): void {
    run.play().then(() => this.settle());
  }

  /** Playing ends when no run can go on. */
  private settle(): void {
    if (this.playing && this.runs.every((r) => r.status === 'done' || r.status === 'error')) this.playing = false;
  }

  setShared(key: string, value: number | string | boolean): void {
    const c = cloneConfig(this.config);
    (c as unknown as Record<string, unknown>)[key] = value;
    this.replace(c);
  }

  setRun(i: number, key: string, value: number | string | boolean): void {
    const c = cloneConfig(this.config);
    (c.runs[i] as unknown as Record<string, unknown>)[key] = value;
    this.replace(c);
  }

  setStages(i: number, stages: Algo[]): void {
    const c = cloneConfig(this.config);
    c.runs[i].stages = stages;
    this.replace(c);
  }

  addRun(templateId: string): void {
    if (this.config.runs.length >= MAX_RUNS) return;
    const t = RUN_TEMPLATES.find((x) => x.id === templateId) ?? RUN_TEMPLATES[0];
    const c = cloneConfig(this.config);
    c.runs.push({ ...defaultRun(t.run.stages), ...t.run, stages: [...t.run.stages] });
    this.replace(c);
    this.selected = c.runs.length - 1;
  }

  /** Remove run i; the others keep their progress (a run depends only on its own and the shared settings). */
  removeRun(i: number): void {
    if (this.config.runs.length <= 1) return;
    const c = cloneConfig(this.config);
    c.runs.splice(i, 1);
    const runs = [...this.runs];
    runs.splice(i, 1)[0].dispose();
    this.runs = runs;
    this.config = c;
    this.fixes = crossCheck(cloneConfig(c));
    if (this.selected >= runs.length) this.selected = runs.length - 1;
    this.writeUrl();
  }

  loadPreset(id: string): void {
    const p = PRESETS.find((x) => x.id === id);
    if (!p) return;
    this.problems = [];
    this.replace(presetConfig(p), true);
  }

  play(): void {
    if (this.runs.every((r) => r.status === 'done' || r.status === 'error')) return;
    this.playing = true;
    for (const r of this.runs) this.playRun(r);
  }

  pause(): void {
    this.playing = false;
    for (const r of this.runs) r.pause();
  }

  toggle(): void {
    if (this.playing) this.pause();
    else this.play();
  }

  step(): void {
    if (this.playing) this.pause();
    for (const r of this.runs) r.stepOnce();
  }

  /** Every run from step 0 with the same settings and seed: the same run again, step for step. */
  reset(): void {
    this.playing = false;
    this.runs.forEach((r, i) => this.restart(r, i));
  }

  setSpeed(v: number): void {
    this.speed = v;
    for (const r of this.runs) r.setSpeed(v);
  }

  setX(x: XAxis): void {
    this.view.x = x;
    this.writeUrl();
  }

  togglePresent(): void {
    this.view.present = !this.view.present;
    this.writeUrl();
  }

  dispose(): void {
    for (const r of this.runs) r.dispose();
  }
}
