/** Accuracy of a policy on a fixed set of problems, overall and per subset; length and work shown. */
import type { MetricRow } from './metrics';
import type { SeqNet } from './nets/net';
import { type SeqShape, sampleCompletions } from './nets/policy';
import type { Rng } from './rng';
import { isWorkedTask, showsWork } from './tasks/sum';
import { meanOf } from './algos/common';
import type { Problem, Task } from './tasks/task';

/** Rows per decoding pass when a set is evaluated in chunks (bounds the tensors of one pass). */
export const EVAL_CHUNK = 1024;

/** One decoded answer per problem: right or not, its length (tokens up to and including eos), work shown. */
interface Decoded {
  correct: Uint8Array;
  length: Float64Array;
  worked: Uint8Array;
}

/** Decode one completion per problem: greedy (rng null) or sampled at `temperature`. */
async function decodeSet(policy: SeqNet, task: Task, shape: SeqShape, problems: Problem[], rng: Rng | null, temperature = 1): Promise<Decoded> {
  const P = shape.promptLen;
  const n = problems.length;
  const out: Decoded = { correct: new Uint8Array(n), length: new Float64Array(n), worked: new Uint8Array(n) };
  for (let off = 0; off < n; off += EVAL_CHUNK) {
    const chunk = problems.slice(off, off + EVAL_CHUNK);
    const prompts = new Int32Array(chunk.length * P);
    chunk.forEach((p, i) => prompts.set(p.prompt, i * P));
    const ro = await sampleCompletions(policy, shape, prompts, chunk.length, rng, temperature);
    chunk.forEach((p, i) => {
      const toks = ro.tokens.subarray(i * ro.T, (i + 1) * ro.T);
      out.correct[off + i] = task.verify(p, toks).correct ? 1 : 0;
      let len = 0;
      for (let t = 0; t < ro.T; t++) len += ro.mask[i * ro.T + t];
      out.length[off + i] = len;
      out.worked[off + i] = showsWork(task, toks) ? 1 : 0;
    });
  }
  return out;
}

/** `{prefix}` overall and `{prefix}/<subset>` per subset, from per-problem hits. */
function bySubset(task: Task, problems: Problem[], correct: Uint8Array, prefix: string): MetricRow {
  const hits: Record<string, [number, number]> = {};
  problems.forEach((p, i) => {
    for (const s of p.subsets) {
      const h = (hits[s] ??= [0, 0]);
      h[0] += correct[i];
      h[1] += 1;
    }
  });
  const row: Record<string, number> = { [prefix]: meanOf(correct) };
  for (const s of task.subsets) if (hits[s]) row[`${prefix}/${s}`] = hits[s][0] / hits[s][1];
  return row as MetricRow;
}

/**
 * Greedy accuracy of `policy` on `problems`: `{prefix}` overall and `{prefix}/<subset>` per subset
 * (e.g. prefix 'eval/accuracy').
 */
export async function greedyAccuracy(policy: SeqNet, task: Task, shape: SeqShape, problems: Problem[], prefix: string): Promise<MetricRow> {
  return bySubset(task, problems, (await decodeSet(policy, task, shape, problems, null)).correct, prefix);
}

/**
 * The held-out metrics of a policy: greedy accuracy overall and per subset (`eval/accuracy...`).
 * On a task whose answers may show work, also what the policy writes: greedy mean length and
 * worked share (`eval/mean_length`, `eval/worked_share`), and, with `sampled` given, one answer
 * per problem sampled at the run's temperature (`eval/sampled_accuracy`, `eval/sampled_length`,
 * `eval/sampled_worked_share`): a habit the policy has only some of the time shows there first.
 */
export async function evaluatePolicy(policy: SeqNet, task: Task, shape: SeqShape, problems: Problem[], sampled?: { rng: Rng; temperature: number }): Promise<MetricRow> {
  const greedy = await decodeSet(policy, task, shape, problems, null);
  const row = bySubset(task, problems, greedy.correct, 'eval/accuracy');
  if (!isWorkedTask(task)) return row;
  row['eval/mean_length'] = meanOf(greedy.length);
  row['eval/worked_share'] = meanOf(greedy.worked);
  if (sampled) {
    const s = await decodeSet(policy, task, shape, problems, sampled.rng, sampled.temperature);
    row['eval/sampled_accuracy'] = meanOf(s.correct);
    row['eval/sampled_length'] = meanOf(s.length);
    row['eval/sampled_worked_share'] = meanOf(s.worked);
  }
  return row;
}
