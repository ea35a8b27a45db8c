/**
 * Teacher-forced passes that compute only the positions a completion mask keeps (the MLP's
 * `positions`; the GRU's rows left out after their last output, src/core/nets/net.ts) change no
 * number: every algorithm's eval rows and final weights are the same bits with the switch on and off.
 */
import { describe, expect, it } from 'vitest';
import { liveOnly } from '../src/core/nets/net';
import { oneHotRows } from '../src/core/nets/layers';
import type { Policy } from '../src/core/policy-file';
import { configOf, presetWith, runSession, withoutTime } from './helpers';
import type { ExperimentConfig } from '../src/core/config';

async function both(config: ExperimentConfig) {
  const run = async (on: boolean) => {
    liveOnly.enabled = on;
    let policy: Policy | null = null;
    try {
      const rows = withoutTime(await runSession(config, 0, 0, {}, (p) => (policy = p)));
      return { rows, policy: policy as Policy | null };
    } finally {
      liveOnly.enabled = true;
    }
  };
  return { all: await run(false), live: await run(true) };
}

describe('computing only the live positions', () => {
  it('is on this backend', () => expect(oneHotRows()).toBe(true));

  it.each([
    ['pretraining on worked answers, then GRPO (r1-zero)', () => presetWith('r1-zero', 'steps=24&evalEvery=8&r1.distillSteps=12')],
    ['distillation (SFT), then GRPO with a KL term and two iterations', () => configOf('v=1&task=add&runs=sft-grpo&steps=16&evalEvery=8&r1.distillSteps=8&r1.beta=0.05&r1.mu=2&r1.batch=32&r1.G=4')],
    ['soft distillation, reverse KL', () => configOf('v=1&task=add&runs=kd&steps=10&evalEvery=5&r1.kdDir=reverse&r1.batch=32')],
    ['PPO with a critic, two minibatches and a KL penalty', () => configOf('v=1&task=add&runs=sft-ppo&steps=12&evalEvery=6&r1.distillSteps=4&r1.minibatches=2&r1.batch=32')],
    ['RLOO on the worked-answer sum', () => presetWith('r1-zero', 'steps=12&evalEvery=6&runs=pretrain-rloo&r1.distillSteps=6&r1.batch=32')],
    ['the GRU: distillation, then GRPO with a KL term', () => configOf('v=1&task=add&net=gru&runs=sft-grpo&steps=16&evalEvery=8&r1.distillSteps=8&r1.beta=0.05&r1.batch=64&r1.G=4')],
    ['the GRU: PPO with a critic', () => configOf('v=1&task=add&net=gru&runs=sft-ppo&steps=12&evalEvery=6&r1.distillSteps=4&r1.batch=64')],
    ['the GRU: pretraining on worked answers, then GRPO', () => presetWith('r1-zero', 'net=gru&steps=16&evalEvery=8&r1.distillSteps=8&r1.batch=32')],
  ])('gives the same rows and weights: %s', async (_, config) => {
    const skipped = liveOnly.skipped;
    const { all, live } = await both(config());
    expect(liveOnly.skipped).toBeGreaterThan(skipped); // the path ran
    expect(live.rows).toEqual(all.rows);
    expect(live.policy).toEqual(all.policy);
    expect(all.rows.length).toBeGreaterThan(2);
  }, 120_000);
});
