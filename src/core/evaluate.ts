/** Greedy accuracy of a policy on a fixed set of problems, overall and per subset. */
import type { MetricRow } from './metrics';
import type { SeqNet } from './nets/net';
import { type SeqShape, sampleCompletions } from './nets/policy';
import type { Problem, Task } from './tasks/task';

/** Rows per decoding pass when a set is evaluated in chunks (bounds the tensors of one pass). */
export const EVAL_CHUNK = 1024;

/**
 * Greedy accuracy of `policy` on `problems`: `{prefix}` overall and `{prefix}/<subset>` per subset
 * (e.g. prefix 'eval/accuracy').
 */
export async function greedyAccuracy(policy: SeqNet, task: Task, shape: SeqShape, problems: Problem[], prefix: string): Promise<MetricRow> {
  const P = shape.promptLen;
  const hits: Record<string, [number, number]> = {};
  let right = 0;
  for (let off = 0; off < problems.length; off += EVAL_CHUNK) {
    const chunk = problems.slice(off, off + EVAL_CHUNK);
    const prompts = new Int32Array(chunk.length * P);
    chunk.forEach((p, i) => prompts.set(p.prompt, i * P));
    const ro = await sampleCompletions(policy, shape, prompts, chunk.length, null);
    chunk.forEach((p, i) => {
      const ok = task.verify(p, ro.tokens.subarray(i * ro.T, (i + 1) * ro.T)).correct ? 1 : 0;
      right += ok;
      for (const s of p.subsets) {
        const h = (hits[s] ??= [0, 0]);
        h[0] += ok;
        h[1] += 1;
      }
    });
  }
  const row: Record<string, number> = { [prefix]: right / problems.length };
  for (const s of task.subsets) if (hits[s]) row[`${prefix}/${s}`] = hits[s][0] / hits[s][1];
  return row as MetricRow;
}

/** Greedy accuracy of a policy on problems, overall and per subset (`eval/accuracy...`). */
export function evaluatePolicy(policy: SeqNet, task: Task, shape: SeqShape, problems: Problem[]): Promise<MetricRow> {
  return greedyAccuracy(policy, task, shape, problems, 'eval/accuracy');
}
