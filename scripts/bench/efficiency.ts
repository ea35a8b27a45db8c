/**
 * `npm run bench -- --only efficiency` (issue 14's yardstick): how much of the platform's matMul
 * speed a whole training step delivers. Per net (GRU, MLP, transformer) and algorithm (GRPO, PPO,
 * SFT): the FLOPs a step counts (session.cost, the model FLOPs of sampling, reference, critic,
 * forward and backward) over its median time, over the GFLOP/s tf.matMul reaches at the net's
 * own size ([256, width] x [width, width]: the shape most of its matMuls have):
 *
 *   efficiency.<net>.<algo> = (FLOPs of a step / step seconds) / matMul FLOP/s
 *
 * 1.0 would be a step that does nothing but matMuls at full speed; the issue asks for 0.5.
 */
import * as tf from '@tensorflow/tfjs';
import { Session } from '../../src/core/session';
import { configOf, type Figures, fmtNum, GRU_NET, log, median, round, type Row, table, TRANSFORMER_NET, WARMUP, type WorkloadId, workloadHash } from './common';

/** The nets: link settings, and the width their matMuls mostly have (hidden; the transformer's model width is embed). */
const NETS: { id: string; hash: string }[] = [
  { id: 'gru', hash: GRU_NET },
  { id: 'mlp', hash: 'net=mlp' },
  { id: 'transformer', hash: TRANSFORMER_NET },
];
const ALGOS: WorkloadId[] = ['grpo', 'ppo', 'sft'];

/** GFLOP/s of tf.matMul for [rows, k] x [k, o] (200 in a row, median of `reps`). */
export async function matMulGflops(rows: number, k: number, o: number, reps = 5): Promise<number> {
  const x = tf.randomUniform([rows, k], -1, 1, 'float32', 1);
  const w = tf.randomUniform([k, o], -1, 1, 'float32', 2);
  const times: number[] = [];
  for (let r = 0; r < reps + 1; r++) {
    const t0 = performance.now();
    const out = tf.tidy(() => {
      let acc: tf.Tensor = tf.zeros([rows, o]);
      for (let i = 0; i < 200; i++) acc = tf.matMul(x, w);
      return acc;
    });
    await out.data();
    out.dispose();
    if (r > 0) times.push(performance.now() - t0); // the first warms the kernel up
  }
  tf.dispose([x, w]);
  return (2 * rows * k * o * 200) / (median(times) / 1000) / 1e9;
}

export async function efficiencyGroup(o: { steps: number }): Promise<{ figures: Figures; text: string }> {
  const f: Figures = {};
  const rows: Row[] = [];
  for (const net of NETS) {
    for (const algo of ALGOS) {
      log(`efficiency: ${net.id} ${algo}`);
      const s = new Session(configOf(workloadHash(algo, net.hash)));
      try {
        for (let i = 0; i < WARMUP; i++) await s.trainStep();
        // The yardstick is measured just before and just after the steps (this machine's speed drifts):
        // the mean of the two medians.
        const width = net.id === 'transformer' ? s.policy.spec.embed : s.policy.spec.hidden;
        const before = await matMulGflops(256, width, width, 5);
        const ms: number[] = [];
        const flops: number[] = [];
        for (let i = 0; i < o.steps; i++) {
          const f0 = s.cost.flops;
          const t0 = performance.now();
          await s.trainStep();
          ms.push(performance.now() - t0);
          flops.push(s.cost.flops - f0);
        }
        const gflops = (before + (await matMulGflops(256, width, width, 5))) / 2;
        const stepMs = median(ms);
        const stepGflops = median(flops) / (stepMs / 1000) / 1e9;
        const eff = stepGflops / gflops;
        const key = `efficiency.${net.id}.${algo}`;
        f[key] = round(eff, 3);
        f[`${key}.step_ms`] = round(stepMs, 2);
        f[`${key}.step_gflop`] = round(median(flops) / 1e9, 4);
        f[`${key}.step_gflops`] = round(stepGflops, 2);
        f[`${key}.matmul_gflops`] = round(gflops, 2);
        f[`${key}.width`] = width;
        rows.push({ figure: key, value: fmtNum(eff, 3), target: '>= 0.5', ok: eff >= 0.5 });
        rows.push({ figure: `  step ${fmtNum(stepMs, 1)} ms, ${fmtNum(median(flops) / 1e9, 3)} GFLOP`, value: `${fmtNum(stepGflops, 2)} GFLOP/s`, target: `matMul [256,${width}]x[${width},${width}] ${fmtNum(gflops, 1)} GFLOP/s` });
      } finally {
        s.dispose();
      }
    }
  }
  return { figures: f, text: table(`efficiency (Node, wasm+SIMD, one thread): FLOPs of a whole step per second, as a share of matMul's at the net's width; median of ${o.steps} steps`, rows) };
}
