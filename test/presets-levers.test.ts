/**
 * The mixture-of-experts lesson (issue 11) on a reduced budget, 3 seeds, medians: a mixture of
 * experts costs its active weights and holds its total ones. (transformer and low-precision are
 * checked in test/presets-rl.test.ts, beside the R1-recipe runs computed there.) The full budgets
 * are in test/long/lessons.test.ts.
 */
import { describe, expect, it } from 'vitest';
import type { MetricRow } from '../src/core/metrics';
import { createNet } from '../src/core/nets/net';
import { Rng } from '../src/core/rng';
import { netSpecOf } from '../src/core/session';
import { taskOf } from '../src/core/tasks';
import { last, median, presetWith, runAll } from './helpers';

const SEEDS = 3;
const acc = (r: MetricRow) => r['eval/accuracy']!;

describe('moe-active-params', () => {
  it('the mixture costs about its active weights per token and holds its total ones; it learns slowest; without the balance loss routing concentrates', async () => {
    // The big dense run's weights and cost need no training; its learning is checked at full budget (test:long).
    const reduced = presetWith('moe-active-params', 'steps=150&evalEvery=50');
    const trained = { ...reduced, runs: [0, 1, 3].map((i) => reduced.runs[i]) };
    const [small, moe, unbalanced] = await runAll(trained, SEEDS);
    const end = (runs: MetricRow[][], k: string) => median(runs.map((r) => (last(r) as Record<string, number>)[k]));
    const flopsPerStep = (runs: MetricRow[][]) => median(runs.map((r) => last(r)['cost/flops']! / last(r).step!));
    const accs = [small, moe, unbalanced].map((runs) => median(runs.map((r) => acc(last(r)))));
    console.log(`moe (reduced): final acc ${accs.map((a) => a.toFixed(3)).join(' / ')}; FLOPs per step ${[small, moe, unbalanced].map(flopsPerStep).map((x) => x.toExponential(3)).join(' / ')}; ` +
      `entropy ${end(moe, 'moe/routing_entropy').toFixed(4)} vs ${end(unbalanced, 'moe/routing_entropy').toFixed(4)} (max ${end(moe, 'moe/routing_entropy_max').toFixed(4)}); aux ${end(moe, 'moe/aux_loss').toFixed(4)} vs ${end(unbalanced, 'moe/aux_loss').toFixed(4)}`);
    // Weights: the mixture's active share is about the small dense run's; its total about the big one's.
    const cfg = presetWith('moe-active-params');
    const net = (i: number) => {
      const n = createNet(netSpecOf(cfg, taskOf(cfg), taskOf(cfg).vocab.length, cfg.runs[i]), new Rng(1));
      const out = { weights: n.paramCount, flops: n.flopsPerToken };
      n.dispose();
      return out;
    };
    const [dense, big] = [net(0), net(2)];
    expect(end(moe, 'moe/active_params') / dense.weights).toBeGreaterThan(1);
    expect(end(moe, 'moe/active_params') / dense.weights).toBeLessThan(1.1);
    expect(Math.abs(end(moe, 'moe/total_params') / big.weights - 1)).toBeLessThan(0.05);
    // Cost per step follows the active weights: within 15% of the small dense run, under a third of the big one.
    expect(flopsPerStep(moe) / flopsPerStep(small)).toBeLessThan(1.15);
    expect((flopsPerStep(moe) / flopsPerStep(small)) * (dense.flops / big.flops)).toBeLessThan(1 / 3);
    // Measured (150 steps; 600 in the preset): the mixture learns slower than the small dense run whose cost it shares.
    expect(accs[1]).toBeLessThan(accs[0]);
    // Without the balance loss the routing concentrates: lower entropy, a larger balance term.
    expect(end(unbalanced, 'moe/routing_entropy')).toBeLessThan(end(moe, 'moe/routing_entropy') - 0.3);
    expect(end(unbalanced, 'moe/aux_loss')).toBeGreaterThan(end(moe, 'moe/aux_loss'));
  });
});
