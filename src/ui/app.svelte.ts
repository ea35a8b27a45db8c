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
  encode,
  defaultRun,
  dependentsOf,
  isDistill,
  MAX_RUNS,
  missingPolicyFiles,
  runOrder,
  teacherRunOf,
  teacherSeed,
} from '../core/config';
import { type ImportedRun, importable, MAX_IMPORT_BYTES, mergeSeeds, parseImport } from '../core/imports';
import { type Policy, cleanName, parsePolicy, policyFileName, policyMismatchMsg, policyRef, refName, serialisePolicy } from '../core/policy-file';
import { PRESETS, presetConfig, presetOfLink } from '../core/presets';
import { taskOf } from '../core/tasks';
import { importColor } from './colors';
import { download } from './export';
import { browserLang, i18n, type Lang, type Msg, msg, presetTitle, t, type Text, TextError, tx } from './i18n/index.svelte';
import { coreMessage } from './i18n/problems';
import { type Persist, type PolicySource, RunController } from './run.svelte';
import { CheckpointStore, type SavedExperiment, StoreError } from './store';
import { importPoints, type ShownImport } from './series';
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

/** Imported runs shown at once (each is drawn on every plot that has its metric). */
export const MAX_IMPORTS = 8;

/** Training speeds in steps per second (0: as fast as it goes); named in the catalogue (app.speed.*). */
export const SPEEDS = [{ value: 0 }, { value: 20 }, { value: 5 }, { value: 1 }];

const sameJson = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
/** Some run leaks benchmark problems: every run then reports fresh-set accuracy too (a shared setting in effect). */
const leaks = (c: ExperimentConfig) => c.runs.some((r) => r.leak > 0);

/**
 * The right to write a run's records, held by one tab at a time (Web Locks, per origin): the
 * first tab to ask gets it and keeps it until the run changes or the tab closes; a second tab with
 * the same run trains without saving it. Without the Locks API every tab writes.
 */
function lockRun(identity: string): Promise<(() => void) | null> {
  const locks = (globalThis.navigator as Navigator | undefined)?.locks;
  if (!locks) return Promise.resolve(() => {});
  return new Promise((resolve) => {
    locks
      .request(`grpo-playground:${identity}`, { ifAvailable: true }, (lock) => {
        if (!lock) {
          resolve(null);
          return undefined;
        }
        return new Promise<void>((release) => resolve(() => release()));
      })
      .catch(() => resolve(null));
  });
}
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
  /** Policy files loaded in this page, by the reference a link names them by (`name~hash`). */
  policies = $state.raw<Map<string, Policy>>(new Map());
  /** Messages about policy files: one that could not be loaded, or one a link names that is not loaded. */
  fileNotes = $state.raw<Text[]>([]);
  /** Runs read from files, drawn beside the live ones (never part of the link). */
  imports = $state.raw<ShownImport[]>([]);
  /** Messages about imported files: what could not be read, rows left out, the link without them. */
  importNotes = $state.raw<Text[]>([]);
  private importsMade = 0;
  /** The hash this page last wrote (a hashchange to it is our own). */
  private written = '';
  /** Messages about saving runs in this browser (storage full or unavailable, a checkpoint that could not be used). */
  storeNotes = $state.raw<Text[]>([]);
  /** Experiments saved in this browser, newest first (the Saved runs list). */
  saved = $state.raw<SavedExperiment[]>([]);
  /** Where checkpoints go: null until opened, or when the browser gives no storage. */
  private store: CheckpointStore | null = null;
  /** The store opened (false before, or where the browser gives none). */
  storeAvailable = $state(false);
  private readonly storeReady: Promise<void>;
  private storeFailed = new Set<string>();

  constructor(
    private readonly makeWorker: () => Worker,
    /** Save runs in IndexedDB (false: the page keeps only the latest checkpoint in memory). */
    persist = true,
  ) {
    this.storeReady = persist
      ? CheckpointStore.open().then(
          (s) => {
            this.store = s;
            this.storeAvailable = true;
            void this.refreshSaved();
          },
          (e) => this.storeError(e instanceof StoreError ? e : new StoreError('unavailable', String(e))),
        )
      : Promise.resolve();
  }

  /** The title a saved experiment is listed under. */
  private title(): string {
    const p = presetOfLink(encode(this.config));
    return p ? presetTitle(p) : t('app.customExperiment');
  }

  private persistFor(): Persist | null {
    if (!this.store) return null;
    return {
      store: this.store,
      link: () => encode(this.config),
      title: () => this.title(),
      lock: lockRun,
      onError: (e) => this.storeError(e),
    };
  }

  /** A storage failure, said once per kind: training goes on without saving. */
  private storeError(e: StoreError): void {
    if (this.storeFailed.has(e.kind)) return;
    this.storeFailed.add(e.kind);
    const what = e.kind === 'quota' ? msg('app.store.full') : msg(e.kind === 'unavailable' ? 'app.store.unavailable' : 'app.store.failed', { error: e.message });
    this.storeNotes = [...this.storeNotes, what];
  }

  /** Re-read the list of saved experiments (and drop the oldest beyond the bounds). */
  async refreshSaved(): Promise<void> {
    if (!this.store) return;
    try {
      await this.store.prune(encode(this.config));
      this.saved = await this.store.list();
    } catch (e) {
      this.storeError(e instanceof StoreError ? e : new StoreError('failed', String(e)));
    }
  }

  /** Delete a saved experiment from this browser (its runs on the page go on). */
  async deleteSaved(link: string): Promise<void> {
    if (!this.store) return;
    try {
      await this.store.deleteExperiment(link);
    } catch (e) {
      this.storeError(e instanceof StoreError ? e : new StoreError('failed', String(e)));
    }
    await this.refreshSaved();
  }

  /** Open a location hash: rebuild the experiment it describes and report its problems. */
  open(hash: string): void {
    const loc: Location = readHash(hash, defaultExperiment);
    this.problems = loc.problems;
    this.view = loc.view;
    i18n.lang = loc.view.lang ?? browserLang();
    this.replace(loc.config, true);
    this.fileNotes = this.missingFiles();
  }

  /** Policy files the experiment names that this page has not loaded (a link carries names, not files). */
  private missingFiles(): Text[] {
    return missingPolicyFiles(this.config, (ref) => this.policies.has(ref)).map(({ run, as, ref }) =>
      msg(as === 'teacher' ? 'files.missingTeacher' : 'files.missingInit', { run: `r${run + 1}`, file: refName(ref), hash: ref.slice(-8) }),
    );
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
  replace(next: ExperimentConfig, all = false, force: number[] = []): void {
    const prev = this.config;
    const fixed = cloneConfig(next);
    const fixes = crossCheck(fixed);
    this.fixes = fixes;
    this.config = fixed;
    const resetAll = all || !sameJson(shared(prev), shared(fixed)) || leaks(prev) !== leaks(fixed);
    const runs = [...this.runs];
    while (runs.length > fixed.runs.length) runs.pop()!.dispose();
    const restart = new Set<number>(force);
    for (let i = 0; i < fixed.runs.length; i++) {
      if (!runs[i]) {
        runs[i] = new RunController(this.makeWorker, () => this.persistFor());
        runs[i].onTrainingChange = () => this.shareCores();
        restart.add(i);
      } else if (resetAll || !sameJson(prev.runs[i], fixed.runs[i])) restart.add(i);
    }
    // A run that learns from a restarted run learns from its new final policy: it restarts too.
    for (const i of [...restart]) for (const d of dependentsOf(fixed, i)) restart.add(d);
    this.runs = runs;
    this.shareCores();
    for (const i of runOrder(fixed)) if (restart.has(i)) this.restart(runs[i], i);
    // The others go on: their saves list under the experiment's new link.
    runs.forEach((r, i) => restart.has(i) || r.relabel(i));
    if (this.selected >= runs.length) this.selected = runs.length - 1;
    this.writeUrl();
  }

  /**
   * Every run's workers learn how many train now in all (each run has one per seed; a run waiting
   * for its teacher, paused or done trains none) and on how many cores.
   */
  private shareCores(): void {
    const workers = Math.max(1, this.runs.reduce((n, r) => n + r.trainingWorkers, 0));
    const cores = (typeof navigator !== 'undefined' && navigator.hardwareConcurrency) || 2;
    for (const r of this.runs) r.setShare(workers, cores);
  }

  /** Start run i again: from its checkpoint where this browser has one (`restore`), else from step 0. */
  private restart(run: RunController, i: number, restore = true): void {
    run.setSpeed(this.speed);
    // After the store is open (at once, after the first time); with the experiment as it is then.
    void this.storeReady.then(async () => {
      const j = this.runs.indexOf(run);
      if (j < 0) return;
      await run.reset(this.config, j, this.sourceFor(j), restore);
      if (this.playing && this.runs[j] === run) this.playRun(run);
      void this.refreshSaved();
    });
  }

  /**
   * The policies run i's settings name, per seed: another run's final policy (it waits for that run
   * to finish), or a loaded file (it waits for Load policy if the file is not there).
   */
  private sourceFor(i: number): PolicySource | undefined {
    const r = this.config.runs[i];
    const needTeacher = r.teacher !== 'scripted' && r.stages.some(isDistill);
    const needInit = r.init === 'file';
    if (!needTeacher && !needInit) return undefined;
    const never = new Promise<never>(() => {});
    const waits: Msg[] = [];
    let teacher: ((k: number) => Promise<Policy>) | null = null;
    let fromRun = false;
    const t = teacherRunOf(r);
    if (needTeacher && t !== null) {
      const ctrl = this.runs[t];
      const cfg = this.config;
      waits.push(msg('run.waitsFor', { run: `r${t + 1}` }));
      teacher = (k) => ctrl.finalPolicy(teacherSeed(cfg, t, k)).catch(() => {
        throw new TextError(msg('run.teacherStopped', { run: `r${t + 1}` }));
      });
      fromRun = true;
    } else if (needTeacher) {
      const p = this.policies.get(r.teacherFile);
      if (!p) waits.push(msg('run.needsTeacherFile', { file: refName(r.teacherFile) }));
      teacher = () => (p ? Promise.resolve(p) : never);
    }
    let init: (() => Promise<Policy>) | null = null;
    if (needInit) {
      const p = this.policies.get(r.initFile);
      if (!p) waits.push(msg('run.needsInitFile', { file: refName(r.initFile) }));
      init = () => (p ? Promise.resolve(p) : never);
    }
    return {
      wait: waits.length ? () => waits.map(tx).join(' ') : msg('run.loadingPolicy'),
      blocked: waits.some((w) => w.key !== 'run.waitsFor'),
      policies: async (k) => {
        const [tp, ip] = await Promise.all([teacher ? teacher(k) : null, init ? init() : null]);
        // A run's final policy was exported for this run alone: its buffers move to the worker.
        return { policies: { teacher: tp, init: ip }, transfer: fromRun && tp ? tp.weights.map((w) => w.data.buffer as ArrayBuffer) : [] };
      },
    };
  }

  private playRun(run: RunController): void {
    run.play().then(() => this.settle());
  }

  /** Playing ends when no run can go on (a run that needs a policy file nobody loaded cannot). */
  private settle(): void {
    if (this.playing && this.runs.every((r) => r.status === 'done' || r.status === 'error' || r.blocked)) this.playing = false;
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

  /**
   * Remove run i; the others keep their progress (a run depends only on its own and the shared
   * settings, and on the run that teaches it: references to later runs are renumbered, and a run
   * that learned from run i goes back to the scripted teacher and restarts).
   */
  removeRun(i: number): void {
    if (this.config.runs.length <= 1) return;
    const c = cloneConfig(this.config);
    c.runs.splice(i, 1);
    const orphans: number[] = [];
    c.runs.forEach((r, j) => {
      const t = teacherRunOf(r);
      if (t === i) {
        r.teacher = 'scripted';
        orphans.push(j);
      } else if (t !== null && t > i) r.teacher = `r${t}` as RunConfig['teacher'];
    });
    const runs = [...this.runs];
    runs.splice(i, 1)[0].dispose();
    this.runs = runs;
    this.config = c;
    this.fixes = crossCheck(cloneConfig(c));
    if (this.selected >= runs.length) this.selected = runs.length - 1;
    this.shareCores();
    const restart = new Set(orphans);
    for (const j of orphans) for (const d of dependentsOf(c, j)) restart.add(d);
    for (const j of runOrder(c)) if (restart.has(j)) this.restart(runs[j], j);
    runs.forEach((r, j) => restart.has(j) || r.relabel(j));
    this.writeUrl();
  }

  /**
   * Use run i's final policy as a teacher: a new run that distils from it (seed for seed), with half
   * its width (a smaller student, as DeepSeek-R1's distilled models are).
   */
  addStudentOf(i: number): void {
    if (this.config.runs.length >= MAX_RUNS) return;
    const c = cloneConfig(this.config);
    const width = c.runs[i].hidden > 0 ? c.runs[i].hidden : c.hidden;
    c.runs.push({ ...defaultRun(['sft']), teacher: `r${i + 1}` as RunConfig['teacher'], hidden: Math.max(8, Math.round(width / 2)) });
    this.replace(c);
    this.selected = c.runs.length - 1;
  }

  /** Download run i's (first seed's) policy as it is now. */
  async downloadPolicy(i: number): Promise<void> {
    const p = await this.runs[i]?.exportPolicy(0);
    if (!p) return;
    download(policyFileName(p), new Blob([serialisePolicy(p)], { type: 'application/json' }));
  }

  /**
   * Load a policy file as run i's teacher or starting point. A file that is not a policy, or does
   * not fit the task, is named in a notice and changes nothing.
   */
  async loadPolicyFile(file: File, as: 'teacher' | 'init', i: number): Promise<void> {
    const name = cleanName(file.name);
    let text: string;
    try {
      text = await file.text();
    } catch {
      this.fileNotes = [msg('files.unreadable', { name })];
      return;
    }
    const parsed = parsePolicy(text);
    const bad = parsed.ok ? policyMismatchMsg(parsed.value, taskOf(this.config)) : parsed;
    if (!parsed.ok || bad) {
      const why = bad!;
      this.fileNotes = [msg('files.notLoaded', { name, why: () => coreMessage(why) })];
      return;
    }
    const ref = policyRef(file.name, parsed.value);
    this.policies = new Map(this.policies).set(ref, parsed.value);
    const c = cloneConfig(this.config);
    if (as === 'teacher') Object.assign(c.runs[i], { teacher: 'file', teacherFile: ref });
    else Object.assign(c.runs[i], { init: 'file', initFile: ref });
    // Runs that already named this file (a link opened without it) can start now.
    const force = c.runs.flatMap((r, j) => (r.teacherFile === ref || r.initFile === ref ? [j] : []));
    this.replace(c, false, force);
    this.fileNotes = this.missingFiles();
  }

  /**
   * Import files as read-only runs: each is read and parsed on its own (a bad one gets a message
   * and the others still come in); sweep files of one combination merge into one run of several
   * seeds. What was shown stays shown.
   */
  async importFiles(files: File[]): Promise<void> {
    const { read, skippedMsgs } = importable(files);
    const notes: Text[] = skippedMsgs.map((m) => () => coreMessage(m));
    const parsed: ImportedRun[] = [];
    for (const f of read) {
      const name = cleanName(f.name);
      if (f.size > MAX_IMPORT_BYTES) {
        notes.push(msg('files.import.tooLarge', { name, mb: MAX_IMPORT_BYTES / 1024 / 1024 }));
        continue;
      }
      let text: string;
      try {
        text = await f.text();
      } catch {
        notes.push(msg('files.import.unreadable', { name }));
        continue;
      }
      const r = parseImport(name, text);
      if (!r.ok) notes.push(msg('files.import.notImported', { name, why: () => coreMessage(r) }));
      else {
        parsed.push(...r.runs);
        notes.push(...r.noteMsgs.map((n) => msg('files.import.note', { name, note: () => coreMessage(n) })));
      }
    }
    const merged = mergeSeeds(parsed);
    const room = MAX_IMPORTS - this.imports.length;
    if (merged.length > room) notes.push(msg('files.import.tooMany', { n: merged.length - Math.max(0, room), max: MAX_IMPORTS }));
    const add = merged.slice(0, Math.max(0, room)).map((run) => {
      const n = this.importsMade++;
      return { id: `i${n + 1}`, run, color: importColor(n), points: importPoints(run) };
    });
    if (add.length) this.imports = [...this.imports, ...add];
    // A clean import leaves the notice of an earlier one up (it is dismissed by hand).
    if (notes.length) this.importNotes = notes;
  }

  removeImport(id: string): void {
    this.imports = this.imports.filter((im) => im.id !== id);
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
    // Runs restart once the store is open: after that.
    void this.storeReady.then(() => {
      if (this.playing) for (const r of this.runs) this.playRun(r);
    });
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
    void this.storeReady.then(() => {
      for (const r of this.runs) r.stepOnce();
    });
  }

  /** Every run from step 0 with the same settings and seed: the same run again, step for step (what was saved of them is discarded). */
  reset(): void {
    this.playing = false;
    // Teachers first: a student asks for the final policy of its teacher's new start.
    for (const i of runOrder(this.config)) this.restart(this.runs[i], i, false);
  }

  setSpeed(v: number): void {
    this.speed = v;
    for (const r of this.runs) r.setSpeed(v);
  }

  setX(x: XAxis): void {
    this.view.x = x;
    this.writeUrl();
  }

  /** The switch in the header: the language, kept in the link (lang=zh) so whoever opens it reads the same. */
  setLang(lang: Lang): void {
    this.view.lang = lang;
    i18n.lang = lang;
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
