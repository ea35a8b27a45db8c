/**
 * The lessons as presets: each a partial experiment with a title and a two-sentence story for a
 * lecture. Each claim in a story is checked by a test on its own training (test/presets.test.ts).
 */
import { type Algo, type ExperimentConfig, type ExperimentSettings, type RunSettings, fromPartial } from './config';

export interface Preset {
  id: string;
  title: string;
  story: string;
  config: Partial<ExperimentSettings> & { runs: (Partial<RunSettings> & { stages: Algo[] })[] };
}

export const PRESETS: Preset[] = [
  {
    id: 'first-steps',
    title: 'First steps: GRPO learns to sort',
    story:
      'A tiny network starts from random weights; for each list GRPO samples eight answers and rewards each one relative to its group. ' +
      'With partial credit for every digit in the right place, the reward climbs within seconds and held-out accuracy follows.',
    config: { task: 'sort', sortLen: 3, blindSpot: 'none', reward: 'partial', steps: 600, evalEvery: 20, runs: [{ stages: ['grpo'], beta: 0, lr: 0.003 }] },
  },
];

export function presetById(id: string): Preset | undefined {
  return PRESETS.find((p) => p.id === id);
}

export function presetConfig(p: Preset): ExperimentConfig {
  return fromPartial(p.config);
}
