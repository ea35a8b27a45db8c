/**
 * Which settings apply to an experiment or a run (the builder shows only those). Kept beside the
 * controls: the schema's `group` says what a setting belongs to, this says when it matters.
 */
import { type Algo, BLIND_SPOTS, type ExperimentConfig, type RunConfig, isDistill, netOf } from '../../core/config';

/** Blind spots each task has: the engine's table (crossCheck enforces it). */
export { BLIND_SPOTS };

/** Whether a shared setting matters for this experiment. */
export function sharedApplies(key: string, config: ExperimentConfig): boolean {
  const c = config as unknown as Record<string, unknown>;
  switch (key) {
    case 'digits': return c.task === 'add';
    case 'sortLen': return c.task === 'sort';
    case 'cdNums': return c.task === 'countdown';
    case 'terms':
    case 'termDigits': return c.task === 'sum';
    case 'formatReward': return c.reward === 'format';
    // Shown when some run's policy is of a family that uses it.
    case 'layers': return config.runs.some((r) => netOf(config, r) !== 'gru');
    case 'window': return config.runs.some((r) => netOf(config, r) === 'mlp');
    case 'heads': return config.runs.some((r) => netOf(config, r) === 'transformer');
    default: return true;
  }
}

const has = (r: RunConfig, ...algos: Algo[]) => r.stages.some((s) => algos.includes(s));
/** A run's policy family (the experiment's unless it sets its own). */
const runNet = (r: RunConfig, config?: ExperimentConfig) => (r.net === 'shared' ? (config?.net ?? 'mlp') : r.net);

/** Whether a run setting matters for this run (the reward may be shared or per run: both are handled). */
export function runApplies(key: string, r: RunConfig, config?: ExperimentConfig): boolean {
  const rec = r as unknown as Record<string, unknown>;
  switch (key) {
    case 'formatReward': return (rec.reward ?? (config as unknown as Record<string, unknown> | undefined)?.reward) === 'format';
    case 'distillSteps': return r.stages.length > 1;
    case 'lr': return has(r, 'grpo', 'ppo', 'rloo');
    case 'distillLr': return r.stages.some(isDistill) || has(r, 'pretrain');
    case 'corpusWorked':
    case 'corpusError': return has(r, 'pretrain');
    case 'G': return has(r, 'grpo', 'rloo');
    case 'clipLow':
    case 'clipHigh': return has(r, 'grpo', 'ppo');
    case 'beta':
    case 'mu':
    case 'advStd':
    case 'advScale':
    case 'agg':
    case 'dynamicSampling': return has(r, 'grpo');
    case 'epochs':
    case 'minibatches':
    case 'gamma':
    case 'gaeLambda':
    case 'vfCoef':
    case 'vfClip':
    case 'criticLr':
    case 'klCoef':
    case 'whiten': return has(r, 'ppo');
    case 'kdDir': return has(r, 'kd');
    case 'teacher':
    case 'dataSize': return r.stages.some(isDistill);
    // A learned teacher: another run, a file, or the previous generation.
    case 'teacherTemp': return r.stages.some(isDistill) && (r.teacher !== 'scripted' || r.generations > 1);
    case 'generations': return r.stages.some(isDistill);
    case 'layers':
    case 'experts': return runNet(r, config) !== 'gru';
    case 'topK':
    case 'sharedExperts':
    case 'balance': return r.experts > 0;
    case 'expertHidden': return r.experts > 0 && runNet(r, config) === 'transformer';
    case 'window': return runNet(r, config) === 'mlp';
    // File references are set by Load policy, not typed.
    case 'teacherFile':
    case 'initFile': return false;
    default: return true;
  }
}
