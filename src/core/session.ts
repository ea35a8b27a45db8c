/**
 * One run: config + seeded streams + task + teacher + nets + the pipeline of algorithm stages.
 * `trainStep()` makes one update; `evaluate()` returns one row of metrics. Runs unchanged in a
 * Worker, in Node tests and in the CLI (the tfjs backend is chosen by the caller).
 */
import { type Algo, type ExperimentConfig, type RunConfig, isDistill } from './config';
import type { Algorithm, Cost, RecordedBatch, RunContext } from './algos/common';
import { createDistill } from './algos/distill';
import { createGrpo } from './algos/grpo';
import { createPpo } from './algos/ppo';
import { createRloo } from './algos/rloo';
import { StepAverager, type MetricRow } from './metrics';
import { createNet, type NetSpec, type SeqNet } from './nets/net';
import * as tf from '@tensorflow/tfjs';
import { completionOutputs, oneHotTokens, sampleCompletions, tokenLogProbs, type SeqShape } from './nets/policy';
import { Rng } from './rng';
import { Teacher } from './teacher';
import { createTask } from './tasks';
import type { Problem, Task } from './tasks/task';

/** The task an experiment config describes. */
export function taskOf(exp: ExperimentConfig): Task {
  return createTask({ task: exp.task, digits: exp.digits, sortLength: exp.sortLen, countdownNumbers: exp.cdNums });
}

export function teacherOf(exp: ExperimentConfig, task: Task): Teacher {
  return new Teacher(task, { accuracy: exp.teacherAcc, blindSpot: exp.blindSpot });
}

export function netSpecOf(exp: ExperimentConfig, task: Task, outDim: number): NetSpec {
  return {
    kind: exp.net,
    vocab: task.vocab.length,
    maxLen: task.promptLen + task.maxNew,
    embed: exp.embed,
    hidden: exp.hidden,
    layers: exp.layers,
    window: exp.window,
    outDim,
  };
}

/** Greedy accuracy of a policy on problems, overall and per subset. */
export async function evaluatePolicy(policy: SeqNet, task: Task, shape: SeqShape, problems: Problem[]): Promise<MetricRow> {
  const P = shape.promptLen;
  const prompts = new Int32Array(problems.length * P);
  problems.forEach((p, i) => prompts.set(p.prompt, i * P));
  const ro = await sampleCompletions(policy, shape, prompts, problems.length, null);
  const hits: Record<string, [number, number]> = {};
  let right = 0;
  problems.forEach((p, i) => {
    const ok = task.verify(p, ro.tokens.subarray(i * ro.T, (i + 1) * ro.T)).correct ? 1 : 0;
    right += ok;
    for (const s of p.subsets) {
      const h = (hits[s] ??= [0, 0]);
      h[0] += ok;
      h[1] += 1;
    }
  });
  const row: MetricRow = { 'eval/accuracy': right / problems.length };
  for (const s of task.subsets) if (hits[s]) row[`eval/accuracy/${s}`] = hits[s][0] / hits[s][1];
  return row;
}

export interface InspectToken {
  text: string;
  /** Probability of this token when it was sampled. */
  prob: number;
  /** pi_now / pi_old for this token. */
  ratio: number;
  /** PPO: the token's own (GAE) advantage. */
  advantage?: number;
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
  tokens: InspectToken[];
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
  /** Critic weights (PPO stages), 0 if the pipeline has none. */
  criticParams: number;
  policyFlopsPerToken: number;
  taskTitle: string;
  heldOut: number;
  stages: { algo: Algo; from: number; to: number }[];
}

export class Session {
  readonly task: Task;
  readonly teacher: Teacher;
  readonly shape: SeqShape;
  readonly policy: SeqNet;
  readonly run: RunConfig;
  readonly seed: number;
  /** Updates made so far. */
  step = 0;
  private ctx: RunContext;
  private algo: Algorithm | null = null;
  private ref: SeqNet | null = null;
  private stageIndex = -1;
  private averager = new StepAverager();
  private trainSeconds = 0;
  private teacherRow: MetricRow | null = null;
  private readonly schedule: { algo: Algo; from: number; to: number }[];
  private lastBatch: (RecordedBatch & { step: number }) | null = null;

  /**
   * @param exp the experiment; @param runIndex which of its runs; @param seedIndex which of the
   * run's seeds (seed = exp.seed + seedIndex).
   */
  constructor(readonly exp: ExperimentConfig, readonly runIndex = 0, seedIndex = 0) {
    this.run = exp.runs[runIndex];
    this.seed = exp.seed + seedIndex;
    this.task = taskOf(exp);
    this.teacher = teacherOf(exp, this.task);
    this.shape = { promptLen: this.task.promptLen, maxNew: this.task.maxNew, vocab: this.task.vocab.length, eos: this.task.eos, pad: this.task.pad };
    const base = new Rng(this.seed);
    const rng = { init: base.fork('init'), task: base.fork('task'), sample: base.fork('sample'), teacher: base.fork('teacher'), minibatch: base.fork('minibatch') };
    this.policy = createNet(netSpecOf(exp, this.task, this.shape.vocab), rng.init);
    const cost: Cost = { samples: 0, tokens: 0, flops: 0 };
    this.ctx = {
      exp,
      run: this.run,
      task: this.task,
      teacher: this.teacher,
      shape: this.shape,
      policy: this.policy,
      rng,
      cost,
      makeNet: (outDim) => createNet(netSpecOf(exp, this.task, outDim), rng.init),
      record: (b) => {
        this.lastBatch = { ...b, step: this.step + 1 };
      },
    };
    let from = 0;
    this.schedule = this.run.stages.map((algo, i) => {
      const last = i === this.run.stages.length - 1;
      const to = last ? Math.max(from, exp.steps) : Math.min(exp.steps, from + this.run.distillSteps);
      const s = { algo, from, to };
      from = to;
      return s;
    });
  }

  get done(): boolean {
    return this.step >= this.exp.steps;
  }

  get cost(): Cost {
    return { ...this.ctx.cost };
  }

  /** Index of the stage the next update belongs to. */
  get stage(): number {
    const i = this.schedule.findIndex((s) => this.step < s.to);
    return i < 0 ? this.schedule.length - 1 : i;
  }

  info(): SessionInfo {
    const hasCritic = this.run.stages.includes('ppo');
    let criticParams = 0;
    if (hasCritic) {
      const c = createNet(netSpecOf(this.exp, this.task, 1), new Rng(0));
      criticParams = c.paramCount;
      c.dispose();
    }
    return {
      policyParams: this.policy.paramCount,
      criticParams,
      policyFlopsPerToken: this.policy.flopsPerToken,
      taskTitle: this.task.title,
      heldOut: this.task.heldOut().length,
      stages: this.schedule.map((s) => ({ ...s })),
    };
  }

  private enterStage(i: number): void {
    this.algo?.dispose();
    this.algo = null;
    this.ref?.dispose();
    this.ref = null;
    this.stageIndex = i;
    const algo = this.schedule[i].algo;
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
      default: this.algo = createDistill(this.ctx, algo);
    }
  }

  /** One update of the current stage. Throws DivergenceError on a non-finite loss. */
  async trainStep(): Promise<void> {
    if (this.done) return;
    const i = this.stage;
    if (i !== this.stageIndex) this.enterStage(i);
    const t0 = performance.now();
    const m = await this.algo!.step();
    this.trainSeconds += (performance.now() - t0) / 1000;
    this.averager.add(m);
    this.step += 1;
  }

  /** One row of metrics: step metrics averaged since the last call, then held-out accuracy. */
  async evaluate(): Promise<MetricRow> {
    const row: MetricRow = { step: this.step, stage: this.step === 0 ? 0 : this.stage };
    // A step belongs to the stage that made it: after the last update of a stage, report that one.
    if (this.step > 0) row.stage = this.schedule.findIndex((s) => this.step - 1 < s.to);
    Object.assign(row, this.averager.flush());
    Object.assign(row, await evaluatePolicy(this.policy, this.task, this.shape, this.task.heldOut()));
    if (this.run.stages.some(isDistill)) Object.assign(row, this.teacherMetrics());
    row['cost/samples'] = this.ctx.cost.samples;
    row['cost/tokens'] = this.ctx.cost.tokens;
    row['cost/flops'] = this.ctx.cost.flops;
    row['time/seconds'] = this.trainSeconds;
    return row;
  }

  /** The teacher's exact accuracies on the held-out set (computed once). */
  teacherMetrics(): MetricRow {
    if (!this.teacherRow) {
      const held = this.task.heldOut();
      const row: MetricRow = {
        'teacher/accuracy': this.teacher.sampledAccuracy(held),
        'teacher/ceiling': this.teacher.ceiling(held),
      };
      const by = this.teacher.accuracyBySubset(held);
      for (const [s, v] of Object.entries(by)) {
        row[`teacher/accuracy/${s}`] = v.sampled;
        row[`teacher/ceiling/${s}`] = v.ceiling;
      }
      this.teacherRow = row;
    }
    return { ...this.teacherRow };
  }

  /**
   * The latest RL batch, for the inspector: the first `maxRows` completions (whole groups) with
   * their reward and advantage, and per token the sampling-time probability and the ratio
   * pi_now / pi_old (how far the updates since moved it). Costs one small forward pass.
   */
  async inspect(maxRows = 32): Promise<Inspection | null> {
    const b = this.lastBatch;
    if (!b) return null;
    const { promptLen: P, maxNew: T, vocab: V } = this.shape;
    const g = Math.max(1, b.groupSize);
    const n = Math.min(b.rollout.n, Math.max(g, Math.floor(maxRows / g) * g));
    const prompts = b.rollout.prompts.subarray(0, n * P);
    const tokens = b.rollout.tokens.subarray(0, n * T);
    const oh = tf.tensor3d(oneHotTokens(tokens, V), [n, T, V]);
    const lpT = tf.tidy(() => tokenLogProbs(completionOutputs(this.policy, prompts, tokens, n, P, T), oh, this.run.temperature).logp);
    const now = (await lpT.data()) as Float32Array;
    tf.dispose([oh, lpT]);
    const rows: InspectRow[] = [];
    for (let i = 0; i < n; i++) {
      const toks: InspectToken[] = [];
      for (let t = 0; t < T; t++) {
        const k = i * T + t;
        if (!b.rollout.mask[k]) break;
        toks.push({
          text: this.task.vocab[tokens[k]],
          prob: Math.exp(b.rollout.logp[k]),
          ratio: Math.exp(now[k] - b.rollout.logp[k]),
          advantage: b.perToken ? b.advantages[k] : undefined,
        });
      }
      const p = b.problems[i];
      rows.push({
        group: Math.floor(i / g),
        prompt: this.task.render(p.prompt),
        target: this.task.render(p.target),
        completion: this.task.render(tokens.subarray(i * T, (i + 1) * T)),
        reward: b.rewards[i],
        correct: this.task.verify(p, tokens.subarray(i * T, (i + 1) * T)).correct,
        advantage: b.perToken ? firstValid(b.advantages, b.rollout.mask, i, T) : b.advantages[i],
        tokens: toks,
      });
    }
    return { step: b.step, algo: this.schedule[this.stage].algo, groupSize: g, perTokenAdvantage: b.perToken, rows };
  }

  dispose(): void {
    this.algo?.dispose();
    this.ref?.dispose();
    this.policy.dispose();
  }
}
