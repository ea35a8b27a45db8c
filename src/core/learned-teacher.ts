/**
 * A learned teacher: any policy (a file, the final policy of another run, the previous generation)
 * teaching at a temperature. It exposes what the scripted teacher does, computed exactly on a fixed
 * set of problems:
 * - its ceiling: the accuracy of its greedy answer (its most likely token at every step), per
 *   subset too: what a student that copies it can reach;
 * - its sampled accuracy: the probability that a sample at the teaching temperature is right. For
 *   tasks with one right answer (addition, sorting) that is exactly the product of its token
 *   probabilities along target + eos; for countdown (many right answers) it is left out.
 */
import * as tf from '@tensorflow/tfjs';
import { EVAL_CHUNK, greedyAccuracy } from './evaluate';
import type { MetricRow } from './metrics';
import type { SeqNet } from './nets/net';
import { type SeqShape, completionMask, completionOutputs, oneHotTokens, sampleCompletions, tokenLogProbs } from './nets/policy';
import type { Rng } from './rng';
import { TEACHER_PROB_FLOOR, type TeacherModel } from './teacher';
import type { Problem, Task } from './tasks/task';
import { exp } from './math/libm';
import { readFloats } from './nets/layers';
import { promptsOf } from './algos/common';

/** Each problem's target + eos + pads, flat [n * T]. */
export function targetCompletions(problems: Problem[], shape: SeqShape): Int32Array {
  const T = shape.maxNew;
  const x = new Int32Array(problems.length * T).fill(shape.pad);
  problems.forEach((p, i) => {
    x.set(p.target, i * T);
    x[i * T + p.target.length] = shape.eos;
  });
  return x;
}

export class LearnedTeacher implements TeacherModel {
  readonly flopsPerToken: number;

  /** @param net the teaching policy (owned: disposed with the teacher). */
  constructor(
    readonly net: SeqNet,
    private readonly task: Task,
    private readonly shape: SeqShape,
    readonly temperature: number,
    readonly source: string,
  ) {
    this.flopsPerToken = net.flopsPerToken;
  }

  async sampleBatch(rng: Rng, problems: Problem[]): Promise<Int32Array> {
    const { promptLen: P, maxNew: T } = this.shape;
    const out = new Int32Array(problems.length * T);
    for (let off = 0; off < problems.length; off += EVAL_CHUNK) {
      const chunk = problems.slice(off, off + EVAL_CHUNK);
      const ro = await sampleCompletions(this.net, this.shape, promptsOf(chunk, P), chunk.length, rng, this.temperature);
      out.set(ro.tokens, off * T);
    }
    return out;
  }

  async distributionsBatch(problems: Problem[], tokens: Int32Array): Promise<Float32Array> {
    const { promptLen: P, maxNew: T, vocab: V } = this.shape;
    const n = problems.length;
    const probsT = tf.tidy(() => {
      const logits = completionOutputs(this.net, promptsOf(problems, P), tokens, n, P, T); // [n, T, V]
      return tf.softmax(this.temperature === 1 ? logits : tf.div(logits, this.temperature));
    });
    const probs = readFloats(probsT);
    probsT.dispose();
    const out = new Float32Array(n * T * V);
    for (let r = 0; r < n * T; r++) {
      let s = 0;
      for (let v = 0; v < V; v++) s += out[r * V + v] = Math.max(probs[r * V + v], TEACHER_PROB_FLOOR);
      for (let v = 0; v < V; v++) out[r * V + v] /= s;
    }
    return out;
  }

  /** P(sampling exactly target + eos) at the teaching temperature, per problem. */
  async targetProbabilities(problems: Problem[]): Promise<Float64Array> {
    const { promptLen: P, maxNew: T, vocab: V, eos } = this.shape;
    const out = new Float64Array(problems.length);
    for (let off = 0; off < problems.length; off += EVAL_CHUNK) {
      const chunk = problems.slice(off, off + EVAL_CHUNK);
      const n = chunk.length;
      const tokens = targetCompletions(chunk, this.shape);
      const mask = completionMask(tokens, n, T, eos);
      const lpT = tf.tidy(() => {
        const oh = tf.tensor3d(oneHotTokens(tokens, V), [n, T, V]);
        return tokenLogProbs(completionOutputs(this.net, promptsOf(chunk, P), tokens, n, P, T), oh, this.temperature).logp;
      });
      const lp = readFloats(lpT);
      lpT.dispose();
      for (let i = 0; i < n; i++) {
        let s = 0;
        for (let t = 0; t < T; t++) if (mask[i * T + t]) s += lp[i * T + t];
        out[off + i] = exp(s);
      }
    }
    return out;
  }

  async metrics(problems: Problem[]): Promise<MetricRow> {
    const greedy = (await greedyAccuracy(this.net, this.task, this.shape, problems, 'teacher/ceiling')) as Record<string, number>;
    const row: Record<string, number> = {};
    let sampled: Float64Array | null = null;
    if (this.task.uniqueAnswer) sampled = await this.targetProbabilities(problems);
    const meanOver = (ps: number[]) => ps.reduce((a, i) => a + sampled![i], 0) / ps.length;
    if (sampled) row['teacher/accuracy'] = meanOver(problems.map((_, i) => i));
    row['teacher/ceiling'] = greedy['teacher/ceiling'];
    for (const s of this.task.subsets) {
      const idx = problems.flatMap((p, i) => (p.subsets.includes(s) ? [i] : []));
      if (!idx.length) continue;
      if (sampled) row[`teacher/accuracy/${s}`] = meanOver(idx);
      row[`teacher/ceiling/${s}`] = greedy[`teacher/ceiling/${s}`];
    }
    return row as MetricRow;
  }

  dispose(): void {
    this.net.dispose();
  }
}
