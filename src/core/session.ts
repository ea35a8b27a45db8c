/**
 * One run: config + seeded streams + task + teacher + nets + the pipeline of algorithm stages.
 * `trainStep()` makes one update; `evaluate()` returns one row of metrics. Runs unchanged in a
 * Worker, in Node tests and in the CLI (the tfjs backend is chosen by the caller).
 */
import { type Algo, type ExperimentConfig, type RunConfig, encode, isDistill, netOf, runIdentity, runSteps } from './config';
import { type Algorithm, assignFlat, type Cost, qatLatent, readFlat, type RecordedBatch, type RunContext, setQatLatent, startQat } from './algos/common';
import { CheckpointError, type SessionState } from './checkpoint';
import { formatsOf, modelBytes, type QuantFormat, quantiseAll } from './quant';
import { createDistill } from './algos/distill';
import { createGrpo } from './algos/grpo';
import { createPpo } from './algos/ppo';
import { createPretrain } from './algos/pretrain';
import { createRloo } from './algos/rloo';
import { StepAverager, type MetricRow } from './metrics';
import { createNet, type NetSpec, type SeqNet } from './nets/net';
import { type MoeSpec, newStats, type RoutingStats, routingFigures } from './nets/moe';
import { exp } from './math/libm';
import { type AttentionMaps, TransformerNet } from './nets/transformer';
import * as tf from '@tensorflow/tfjs';
import { completionOutputs, oneHotTokens, tokenLogProbs, type SeqShape } from './nets/policy';
import { Rng } from './rng';
import { Teacher, type TeacherModel } from './teacher';
import { taskOf } from './tasks';
import { isWorkedTask, showsWork } from './tasks/sum';
import type { Task } from './tasks/task';
import { evaluatePolicy, greedyAccuracy } from './evaluate';
import { LearnedTeacher } from './learned-teacher';
import { type Policy, policyMismatch, refName } from './policy-file';
import { netFromPolicy, policyOf } from './nets/from-policy';
import { type Arith, arithmetic, readFloats } from './nets/layers';


export { taskOf };

export function teacherOf(exp: ExperimentConfig, task: Task): Teacher {
  return new Teacher(task, { accuracy: exp.teacherAcc, blindSpot: exp.blindSpot });
}

/** The net of a run: the experiment's policy settings, with the run's own sizes where it sets them. */
/**
 * A mixture of experts' figures at an eval point: weights per token (active) and in all; per
 * expert, its share of the routed slots; the entropy of the mean routing distribution (nats) with
 * its maximum ln E; the load-balancing term E sum f_e P_e (1 when balanced). Means over the layers.
 */
export function moeMetrics(net: SeqNet, stats: RoutingStats[]): MetricRow {
  const row: Record<string, number> = { 'moe/active_params': net.activeParams, 'moe/total_params': net.paramCount };
  const figs = stats.map((s, j) => routingFigures(s, net.moeLayers[j].spec.topK));
  const mean = (f: (x: (typeof figs)[number]) => number) => figs.reduce((a, x) => a + f(x), 0) / figs.length;
  row['moe/routing_entropy'] = mean((x) => x.entropy);
  row['moe/routing_entropy_max'] = figs[0].maxEntropy;
  row['moe/aux_loss'] = mean((x) => x.aux);
  figs[0].load.forEach((_, e) => (row[`moe/expert_load/${e}`] = mean((x) => x.load[e])));
  return row as MetricRow;
}

/** A run's mixture of experts (transformer experts default to the block's width over top-k). */
export function moeOf(exp: ExperimentConfig, run: RunConfig): MoeSpec {
  const width = run.hidden > 0 ? run.hidden : exp.hidden;
  return { experts: run.experts, topK: Math.min(run.topK, run.experts), shared: run.sharedExperts, expertHidden: run.expertHidden > 0 ? run.expertHidden : Math.max(1, Math.round(width / run.topK)), balance: run.balance };
}

export function netSpecOf(exp: ExperimentConfig, task: Task, outDim: number, run?: RunConfig): NetSpec {
  const kind = run ? netOf(exp, run) : exp.net;
  return {
    kind,
    vocab: task.vocab.length,
    maxLen: task.promptLen + task.maxNew,
    embed: exp.embed,
    hidden: run && run.hidden > 0 ? run.hidden : exp.hidden,
    layers: run && run.layers > 0 ? run.layers : exp.layers,
    window: run && run.window > 0 ? run.window : exp.window,
    outDim,
    ...(kind === 'transformer' ? { heads: exp.heads } : {}),
    ...(run && run.experts > 0 && kind !== 'gru' ? { moe: moeOf(exp, run) } : {}),
  };
}

export interface InspectToken {
  text: string;
  /** Probability of this token when it was sampled. */
  prob: number;
  /** pi_now / pi_old for this token. */
  ratio: number;
  /** PPO: the token's own (GAE) advantage. */
  advantage?: number;
  /** On tasks that may show work: intermediate work, the marker, or the answer (eos included). */
  part?: 'work' | 'mark' | 'answer';
}

export interface InspectRow {
  group: number;
  prompt: string;
  target: string;
  completion: string;
  reward: number;
  correct: boolean;
  /** GRPO/RLOO: the completion's advantage; PPO: the first token's. */
  advantage: number;
  /** Tokens up to and including eos (all of them when it was cut off). */
  length: number;
  /** It shows intermediate work before a marker (tasks that allow it). */
  worked: boolean;
  tokens: InspectToken[];
  /**
   * Transformer policies: what each position of the teacher-forced input (prompt, then the
   * completion but its last token) attended to, per layer and head: weights[q][k] for k <= q.
   * Completion token t was written at position promptLen + t - 1.
   */
  attention?: { context: string[]; promptLen: number; maps: AttentionMaps };
}

export interface Inspection {
  step: number;
  algo: Algo;
  groupSize: number;
  perTokenAdvantage: boolean;
  rows: InspectRow[];
}

function firstValid(x: ArrayLike<number>, mask: ArrayLike<number>, i: number, T: number): number {
  for (let t = 0; t < T; t++) if (mask[i * T + t]) return x[i * T + t];
  return 0;
}

export interface SessionInfo {
  policyParams: number;
  /** Weights one token uses (less than policyParams for a mixture of experts). */
  policyActiveParams: number;
  /** 'mlp', 'gru' or 'transformer', and ' + experts' details when it has them. */
  policyKind: string;
  /** Critic weights (PPO stages), 0 if the pipeline has none. */
  criticParams: number;
  policyFlopsPerToken: number;
  taskTitle: string;
  heldOut: number;
  /** The run's budget in updates. */
  steps: number;
  /** Generations of the run (1: a single student). */
  generations: number;
  /** Who teaches generation 1: 'scripted', 'rK' or the policy file's name. */
  teacher: string;
  /** Where the policy starts: 'scratch' or the policy file's name. */
  init: string;
  /** Every stage of every generation, in order: updates [from, to). */
  stages: { algo: Algo; from: number; to: number; generation: number; stage: number }[];
  /** The matrix products' arithmetic in effect: the experiment's `arith`, or 'portable' where the engine has no fused multiply-add. */
  arith: Arith;
}

/** Policies a session is handed (from files, or from the run that teaches it). */
export interface SessionPolicies {
  /** The teacher of generation 1's distillation stages (instead of the scripted one). */
  teacher?: Policy | null;
  /** Where the first student starts (instead of random weights). */
  init?: Policy | null;
}

/** A policy that cannot be used: the message names what does not match. */
export class PolicyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PolicyError';
  }
}

/** Where each update goes: stage `stage` (of the pipeline) of generation `generation` (1-based). */
function scheduleOf(run: RunConfig, budget: number): SessionInfo['stages'] {
  const G = run.generations;
  const out: SessionInfo['stages'] = [];
  const perGen = Math.floor(budget / G);
  for (let g = 0; g < G; g++) {
    const start = g * perGen;
    const end = g === G - 1 ? budget : start + perGen;
    let from = start;
    run.stages.forEach((algo, i) => {
      const last = i === run.stages.length - 1;
      const to = last ? Math.max(from, end) : Math.min(end, from + run.distillSteps);
      out.push({ algo, from, to, generation: g + 1, stage: i });
      from = to;
    });
  }
  return out;
}

export class Session {
  readonly task: Task;
  readonly shape: SeqShape;
  readonly run: RunConfig;
  readonly seed: number;
  /** The run's budget in updates. */
  readonly steps: number;
  /** Updates made so far. */
  step = 0;
  /** The student being trained (a fresh one each generation). */
  policy: SeqNet;
  /** Who teaches the current generation. */
  teacher: TeacherModel;
  private ctx: RunContext;
  private algo: Algorithm | null = null;
  private ref: SeqNet | null = null;
  private stageIndex = -1;
  private averager = new StepAverager();
  private trainSeconds = 0;
  /** Teacher metrics per generation (computed once, when first asked). */
  private teacherRows = new Map<number, MetricRow>();
  private readonly schedule: SessionInfo['stages'];
  private lastBatch: (RecordedBatch & { step: number }) | null = null;
  private readonly base: Rng;
  private readonly sources: { teacher: string; init: string };
  /** Evaluate on the fresh set too: some run of the experiment trains on leaked benchmark problems. */
  private readonly withFresh: boolean;
  /** The arithmetic in effect (useArith). */
  private arith: Arith = 'portable';

  /**
   * @param exp the experiment; @param runIndex which of its runs; @param seedIndex which of the
   * run's seeds (seed = exp.seed + seedIndex); @param policies the teacher and starting policy the
   * run's settings name (a file's, or the final policy of the run that teaches it). Throws a
   * PolicyError when a policy the run needs is missing or does not fit the task.
   */
  constructor(readonly exp: ExperimentConfig, readonly runIndex = 0, readonly seedIndex = 0, policies: SessionPolicies = {}) {
    this.useArith();
    this.run = exp.runs[runIndex];
    this.seed = exp.seed + seedIndex;
    this.steps = runSteps(exp, this.run);
    this.task = taskOf(exp);
    this.shape = { promptLen: this.task.promptLen, maxNew: this.task.maxNew, vocab: this.task.vocab.length, eos: this.task.eos, pad: this.task.pad };
    this.withFresh = exp.runs.some((r) => r.leak > 0);
    const run = this.run;
    const id = `r${runIndex + 1}`;
    const needTeacher = run.teacher !== 'scripted' && run.stages.some(isDistill);
    if (needTeacher && !policies.teacher) {
      throw new PolicyError(run.teacher === 'file' ? `${id} learns from the policy file '${refName(run.teacherFile)}', which is not loaded` : `${id} learns from ${run.teacher}, whose policy is not there yet`);
    }
    if (run.init === 'file' && !policies.init) throw new PolicyError(`${id} starts from the policy file '${refName(run.initFile)}', which is not loaded`);
    for (const [what, p] of [['teacher', needTeacher ? policies.teacher : null], ['starting policy', run.init === 'file' ? policies.init : null]] as const) {
      const bad = p ? policyMismatch(p, this.task) : null;
      if (bad) throw new PolicyError(`${id}'s ${what} cannot be used: ${bad}`);
    }
    this.base = new Rng(this.seed);
    const base = this.base;
    const rng = { init: base.fork('init'), task: base.fork('task'), sample: base.fork('sample'), teacher: base.fork('teacher'), minibatch: base.fork('minibatch') };
    this.policy = run.init === 'file' ? netFromPolicy(policies.init!) : createNet(netSpecOf(exp, this.task, this.shape.vocab, run), rng.init);
    if (run.qat !== 'none') startQat(this.policy.vars, run.qat);
    this.teacher = needTeacher
      ? new LearnedTeacher(netFromPolicy(policies.teacher!), this.task, this.shape, run.teacherTemp, run.teacher === 'file' ? refName(run.teacherFile) : run.teacher)
      : teacherOf(exp, this.task);
    this.sources = { teacher: this.teacher.source, init: run.init === 'file' ? refName(run.initFile) : 'scratch' };
    const cost: Cost = { samples: 0, tokens: 0, flops: 0 };
    const leak = run.leak;
    const task = this.task;
    const bench = task.heldOut();
    this.ctx = {
      exp,
      run,
      task,
      teacher: this.teacher,
      shape: this.shape,
      policy: this.policy,
      rng,
      cost,
      makeNet: (outDim) => createNet({ ...this.policy.spec, outDim }, rng.init),
      // Contamination: with probability `leak` a training problem is a copy of a benchmark problem.
      problems: (n) => (leak > 0 ? Array.from({ length: n }, () => (rng.task.next() < leak ? bench[rng.task.int(bench.length)] : task.sample(rng.task, 1)[0])) : task.sample(rng.task, n)),
      record: (b) => {
        this.lastBatch = { ...b, step: this.step + 1 };
      },
    };
    this.schedule = scheduleOf(run, this.steps);
  }

  get done(): boolean {
    return this.step >= this.steps;
  }

  get cost(): Cost {
    return { ...this.ctx.cost };
  }

  /** Index (into the schedule) of the stage the next update belongs to. */
  private get slot(): number {
    const i = this.schedule.findIndex((s) => this.step < s.to);
    return i < 0 ? this.schedule.length - 1 : i;
  }

  /** Pipeline stage of the next update. */
  get stage(): number {
    return this.schedule[this.slot].stage;
  }

  /** Generation (1-based) of the next update. */
  get generation(): number {
    return this.schedule[this.slot].generation;
  }

  /** The schedule slot of the last update made (the slot of step 0 before any). */
  private get lastSlot(): number {
    if (this.step === 0) return 0;
    const i = this.schedule.findIndex((s) => this.step - 1 < s.to);
    return i < 0 ? this.schedule.length - 1 : i;
  }

  /**
   * Whether the update just made ends a stage (before the last one of the run), and so a
   * generation too: there is an eval point there (e.g. the base model, as RL starts from it).
   */
  private get stageEnds(): boolean {
    const i = this.lastSlot;
    return this.step > 0 && i < this.schedule.length - 1 && this.schedule[i].to === this.step;
  }

  /**
   * Whether an eval row is due after the update just made: every `evalEvery` updates, at the end
   * of each stage and generation, and at the end of the budget (the CLI, the trainer and the tests all ask this).
   */
  get atEvalPoint(): boolean {
    return this.step % this.exp.evalEvery === 0 || this.done || this.stageEnds;
  }

  info(): SessionInfo {
    const hasCritic = this.run.stages.includes('ppo');
    let criticParams = 0;
    if (hasCritic) {
      const c = createNet({ ...this.policy.spec, outDim: 1 }, new Rng(0));
      criticParams = c.paramCount;
      c.dispose();
    }
    return {
      policyParams: this.policy.paramCount,
      policyActiveParams: this.policy.activeParams,
      policyKind: this.policy.spec.kind + (this.policy.spec.moe ? ` (${this.policy.spec.moe.experts} experts, top-${this.policy.spec.moe.topK}${this.policy.spec.moe.shared ? ` + ${this.policy.spec.moe.shared} shared` : ''})` : ''),
      criticParams,
      policyFlopsPerToken: this.policy.flopsPerToken,
      taskTitle: this.task.title,
      heldOut: this.task.heldOut().length,
      steps: this.steps,
      generations: this.run.generations,
      teacher: this.sources.teacher,
      init: this.sources.init,
      stages: this.schedule.map((s) => ({ ...s })),
      arith: this.arith,
    };
  }

  /**
   * A new generation: the student so far becomes the teacher (at the run's teacher temperature), and
   * a fresh student, with its own seeded initialisation, takes its place.
   */
  private nextGeneration(g: number): void {
    const parent = createNet(this.policy.spec, new Rng(0));
    parent.copyFrom(this.policy);
    const spec = this.policy.spec;
    this.teacher.dispose();
    this.policy.dispose();
    this.teacher = new LearnedTeacher(parent, this.task, this.shape, this.run.teacherTemp, `generation ${g - 1}`);
    this.policy = createNet(spec, this.base.fork(`init/generation-${g}`));
    if (this.run.qat !== 'none') startQat(this.policy.vars, this.run.qat);
    this.ctx.teacher = this.teacher;
    this.ctx.policy = this.policy;
  }

  private enterStage(i: number): void {
    this.algo?.dispose();
    this.algo = null;
    this.ref?.dispose();
    this.ref = null;
    const prev = this.stageIndex;
    this.stageIndex = i;
    const slot = this.schedule[i];
    if (prev >= 0 && slot.generation !== this.schedule[prev].generation) this.nextGeneration(slot.generation);
    const algo = slot.algo;
    if (!isDistill(algo)) {
      // The reference policy of an RL stage is the policy as the stage starts (R1: the SFT model).
      const needsRef = (algo === 'grpo' && this.run.beta > 0) || (algo === 'ppo' && this.run.klCoef > 0);
      if (needsRef) {
        this.ref = createNet(this.policy.spec, new Rng(0));
        this.ref.copyFrom(this.policy);
      }
    }
    switch (algo) {
      case 'grpo': this.algo = createGrpo(this.ctx, this.ref); break;
      case 'ppo': this.algo = createPpo(this.ctx, this.ref); break;
      case 'rloo': this.algo = createRloo(this.ctx); break;
      case 'pretrain': this.algo = createPretrain(this.ctx); break;
      default: this.algo = createDistill(this.ctx, algo);
    }
  }

  /**
   * The run's whole state between updates (a checkpoint): restored into a new Session of the same
   * experiment, run and seed (and the same teacher and starting policies), it continues with exactly
   * the numbers this one would have made. Only `time/seconds` and the inspector's batch are not kept.
   */
  saveState(): SessionState {
    const algo = this.algo?.save() ?? null;
    return {
      link: encode(this.exp),
      identity: runIdentity(this.exp, this.runIndex),
      run: this.runIndex,
      seed: this.seedIndex,
      step: this.step,
      stageIndex: this.stageIndex,
      trainSeconds: this.trainSeconds,
      cost: { ...this.ctx.cost },
      rng: Object.fromEntries(Object.entries(this.ctx.rng).map(([k, r]) => [k, r.state()])),
      averager: this.averager.state(),
      policy: readFlat(this.policy.vars),
      latent: qatLatent(this.policy.vars),
      teacher: this.stageIndex >= 0 && this.schedule[this.stageIndex].generation > 1 ? readFlat((this.teacher as LearnedTeacher).net.vars) : null,
      ref: this.ref ? readFlat(this.ref.vars) : null,
      algo,
    };
  }

  /**
   * Continue from a saved state (on a Session just built, before any update). Throws a
   * CheckpointError when the state is of another experiment, run or seed, or does not fit the nets;
   * the session is then half restored: dispose of it and build a new one.
   */
  restoreState(s: SessionState): void {
    if (this.step !== 0 || this.stageIndex !== -1) throw new CheckpointError('a run can only be restored before it trains');
    const id = `r${this.runIndex + 1} seed ${this.seed}`;
    // Not the link: another run's settings may differ (the page keeps runs whose own settings did not change).
    if (s.identity !== runIdentity(this.exp, this.runIndex)) throw new CheckpointError(`the checkpoint of ${id} is of another experiment`);
    if (s.seed !== this.seedIndex) throw new CheckpointError(`the checkpoint of seed index ${s.seed} cannot resume ${id}`);
    if (s.step > this.steps || s.stageIndex < -1 || s.stageIndex >= this.schedule.length || (s.step > 0) !== (s.stageIndex >= 0)) throw new CheckpointError(`the checkpoint of ${id} is at a step the run does not have`);
    const fits = (w: Float32Array | null, n: number, what: string) => {
      if (!(w instanceof Float32Array) || w.length !== n) throw new CheckpointError(`the checkpoint of ${id} does not fit: ${what} has ${w?.length ?? 'no'} weights for ${n}`);
    };
    try {
      if (s.stageIndex >= 0) {
        const g = this.schedule[s.stageIndex].generation;
        if (g > 1) {
          // The previous generation teaches this one: rebuild it as nextGeneration() does, then its weights.
          this.nextGeneration(g);
          const parent = (this.teacher as LearnedTeacher).net;
          fits(s.teacher, parent.paramCount, 'the previous generation');
          assignFlat(parent.vars, s.teacher!);
        }
        this.enterStage(s.stageIndex);
      }
      fits(s.policy, this.policy.paramCount, 'the policy');
      assignFlat(this.policy.vars, s.policy);
      if (s.latent) setQatLatent(this.policy.vars, s.latent);
      if (this.ref) {
        fits(s.ref, this.ref.paramCount, 'the reference policy');
        assignFlat(this.ref.vars, s.ref!);
      }
      if (this.algo) {
        if (!s.algo) throw new Error('the stage has no saved state');
        this.algo.load(s.algo);
      }
      // Last: building the stage above may draw from the streams (a critic's initialisation).
      for (const [k, r] of Object.entries(this.ctx.rng)) {
        if (!s.rng[k]) throw new Error(`the random stream '${k}' is missing`);
        r.setState(s.rng[k]);
      }
      Object.assign(this.ctx.cost, { samples: +s.cost.samples, tokens: +s.cost.tokens, flops: +s.cost.flops });
      this.averager.setState(s.averager);
      this.trainSeconds = +s.trainSeconds || 0;
      this.step = s.step;
    } catch (e) {
      throw e instanceof CheckpointError ? e : new CheckpointError(`the checkpoint of ${id} does not fit: ${(e as Error).message}`);
    }
  }

  /** The experiment's arithmetic for the products that follow (another experiment's session may have run in between). */
  private useArith(): Arith {
    return (this.arith = arithmetic.use(this.exp.arith ?? 'portable'));
  }

  /** One update of the current stage. Throws DivergenceError on a non-finite loss. */
  async trainStep(): Promise<void> {
    if (this.done) return;
    this.useArith();
    const i = this.slot;
    if (i !== this.stageIndex) this.enterStage(i);
    const t0 = performance.now();
    const m = await this.algo!.step();
    this.trainSeconds += (performance.now() - t0) / 1000;
    this.averager.add(m);
    this.step += 1;
  }

  /** One row of metrics: step metrics averaged since the last call, then held-out accuracy. */
  async evaluate(): Promise<MetricRow> {
    this.useArith();
    // A step belongs to the stage that made it: after the last update of a stage, report that one.
    const slot = this.schedule[this.lastSlot];
    const row: MetricRow = { step: this.step, stage: slot.stage, generation: slot.generation };
    Object.assign(row, this.averager.flush());
    // Sampled answers come from their own stream, seeded by the step: evaluating never moves training's.
    const sampled = { rng: this.base.fork(`eval/${this.step}`), temperature: this.run.temperature };
    // A mixture of experts: how the held-out evaluation's tokens were routed.
    const moe = this.policy.moeLayers;
    const stats = moe.map((m) => (m.collect = newStats(m.spec.experts)));
    try {
      Object.assign(row, await evaluatePolicy(this.policy, this.task, this.shape, this.task.heldOut(), sampled));
    } finally {
      for (const m of moe) m.collect = null;
    }
    if (moe.length) Object.assign(row, moeMetrics(this.policy, stats));
    const formats = formatsOf(this.run.quantEval);
    if (formats.length) Object.assign(row, await this.quantisedAccuracy(formats));
    if (this.withFresh) Object.assign(row, await greedyAccuracy(this.policy, this.task, this.shape, this.task.fresh(), 'eval/accuracy_fresh'));
    if (this.run.stages.some(isDistill)) Object.assign(row, await this.teacherMetrics());
    row['cost/samples'] = this.ctx.cost.samples;
    row['cost/tokens'] = this.ctx.cost.tokens;
    row['cost/flops'] = this.ctx.cost.flops;
    row['time/seconds'] = this.trainSeconds;
    return row;
  }

  /**
   * Post-training quantisation: held-out greedy accuracy with the policy's weight matrices rounded
   * to each format (`eval/accuracy@<format>`, and per subset), and the size of the weights in bytes
   * (`quant/bytes@<format>`, `quant/bytes@fp32`). The weights are put back afterwards.
   */
  private async quantisedAccuracy(formats: QuantFormat[]): Promise<MetricRow> {
    const vars = this.policy.vars;
    const shapes = vars.map((v) => [...v.shape]);
    const full = readFlat(vars);
    const row: Record<string, number> = { 'quant/bytes@fp32': modelBytes('fp32', shapes) };
    try {
      for (const f of formats) {
        assignFlat(vars, quantiseAll(f, shapes, full));
        Object.assign(row, await greedyAccuracy(this.policy, this.task, this.shape, this.task.heldOut(), `eval/accuracy@${f}`));
        row[`quant/bytes@${f}`] = modelBytes(f, shapes);
      }
    } finally {
      assignFlat(vars, full);
    }
    return row as MetricRow;
  }

  /** The exact held-out accuracies of the teacher of the current generation (computed once each). */
  async teacherMetrics(): Promise<MetricRow> {
    this.useArith();
    const g = this.stageIndex < 0 ? 1 : this.schedule[this.stageIndex].generation;
    let row = this.teacherRows.get(g);
    if (!row) {
      row = await this.teacher.metrics(this.task.heldOut());
      this.teacherRows.set(g, row);
    }
    return { ...row };
  }

  /** The current policy as a policy file's content. */
  exportPolicy(): Promise<Policy> {
    return policyOf(this.policy, this.task, { link: encode(this.exp), run: this.runIndex + 1, seed: this.seed, generation: this.schedule[this.lastSlot].generation, step: this.step });
  }

  /**
   * The latest RL batch, for the inspector: the first `maxRows` completions (whole groups) with
   * their reward and advantage, and per token the sampling-time probability and the ratio
   * pi_now / pi_old (how far the updates since moved it). Costs one small forward pass.
   */
  async inspect(maxRows = 32): Promise<Inspection | null> {
    this.useArith();
    const b = this.lastBatch;
    if (!b) return null;
    const { promptLen: P, maxNew: T, vocab: V } = this.shape;
    const g = Math.max(1, b.groupSize);
    const n = Math.min(b.rollout.n, Math.max(g, Math.floor(maxRows / g) * g));
    const prompts = b.rollout.prompts.subarray(0, n * P);
    const tokens = b.rollout.tokens.subarray(0, n * T);
    const oh = tf.tensor3d(oneHotTokens(tokens, V), [n, T, V]);
    const lpT = tf.tidy(() => tokenLogProbs(completionOutputs(this.policy, prompts, tokens, n, P, T), oh, this.run.temperature).logp);
    const now = readFloats(lpT);
    tf.dispose([oh, lpT]);
    const rows: InspectRow[] = [];
    const task = this.task;
    for (let i = 0; i < n; i++) {
      const toks: InspectToken[] = [];
      const completion = tokens.subarray(i * T, (i + 1) * T);
      // Where the work ends: the last marker before eos (worked-answer tasks only).
      const parts = isWorkedTask(task) ? task.parts(completion) : null;
      const mark = parts?.worked ? parts.work.length : -1;
      for (let t = 0; t < T; t++) {
        const k = i * T + t;
        if (!b.rollout.mask[k]) break;
        toks.push({
          text: task.vocab[tokens[k]],
          prob: exp(b.rollout.logp[k]),
          ratio: exp(now[k] - b.rollout.logp[k]),
          advantage: b.perToken ? b.advantages[k] : undefined,
          part: parts ? (t < mark ? 'work' : t === mark ? 'mark' : 'answer') : undefined,
        });
      }
      const p = b.problems[i];
      rows.push({
        group: Math.floor(i / g),
        prompt: this.task.render(p.prompt),
        target: this.task.render(p.target),
        completion: task.render(completion),
        reward: b.rewards[i],
        correct: task.verify(p, completion).correct,
        advantage: b.perToken ? firstValid(b.advantages, b.rollout.mask, i, T) : b.advantages[i],
        length: toks.length,
        worked: showsWork(task, completion),
        tokens: toks,
        attention: this.policy instanceof TransformerNet ? this.attentionOf(this.policy, prompts.subarray(i * P, (i + 1) * P), completion.subarray(0, toks.length)) : undefined,
      });
    }
    return { step: b.step, algo: this.schedule[this.slot].algo, groupSize: g, perTokenAdvantage: b.perToken, rows };
  }

  /** One sequence's attention maps (rounded to 4 decimals: they go to the page). */
  private attentionOf(net: TransformerNet, prompt: Int32Array, completion: Int32Array): InspectRow['attention'] {
    const L = prompt.length + Math.max(0, completion.length - 1);
    const ids = new Int32Array(L);
    ids.set(prompt);
    ids.set(completion.subarray(0, L - prompt.length), prompt.length);
    net.record = [];
    try {
      tf.tidy(() => net.outputs(ids, 1, L, L - 1));
      const maps = net.record.map((m) => ({ ...m, weights: m.weights.map((row) => row.map((x) => Math.round(x * 1e4) / 1e4)) }));
      return { context: Array.from(ids, (t) => this.task.vocab[t]), promptLen: prompt.length, maps };
    } finally {
      net.record = null;
    }
  }

  dispose(): void {
    this.algo?.dispose();
    this.ref?.dispose();
    this.policy.dispose();
    this.teacher.dispose();
  }
}
