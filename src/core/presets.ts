/**
 * The lessons as presets: each a partial experiment with a title and a two-sentence story for a
 * lecture. Each claim in a story is checked by a test on its own training (test/presets.test.ts).
 */
import { type Algo, type ExperimentConfig, type ExperimentSettings, type RunSettings, encode, fromPartial } from './config';

export interface Preset {
  id: string;
  title: string;
  story: string;
  config: Partial<ExperimentSettings> & { runs: (Partial<RunSettings> & { stages: Algo[] })[] };
}

/**
 * The distil-then-GRPO run several lessons share (the DeepSeek-R1 recipe on 2-digit addition).
 * Sampling at temperature 1.3 keeps the group's answers diverse once the policy is confident
 * (at 1.0 the entropy collapses and ~90% of groups end up all-equal, stalling near 0.87).
 */
const R1_RL = { lr: 0.003, temperature: 1.3 };
const R1_RUN = { stages: ['sft', 'grpo'] as Algo[], distillSteps: 300, ...R1_RL };
/**
 * The transformer lesson's transformer: one block of four heads, distilled at lr 0.005 for 500 steps
 * (4 heads is the experiment's setting: the MLP has none). Two blocks of two heads (the app's
 * default) often stalled on a plateau below 0.1: at distillation lr 0.003, 0.005 and 0.01, 5, 4 and
 * 2 of seeds 1-6 did not come within 0.02 of the ceiling in 800 steps (0.02 diverged); one block
 * of four heads at 0.005 did in 5 seeds of 6, at steps 300-750.
 */
const TRANSFORMER_RUN = { ...R1_RUN, net: 'transformer' as const, layers: 1, distillLr: 0.005, distillSteps: 500 };
/**
 * no-signal's runs: GRPO from scratch at the lr the R1 recipe's RL uses. At the default 0.001 the
 * dynamic-sampling run first reached 0.05 at step 600-850 (seeds 1-3); at 0.003 at step 300-350,
 * while plain GRPO still learns nothing (every group all-equal: no gradient but the KL term's).
 */
const SCRATCH_RL = { stages: ['grpo'] as Algo[], lr: 0.003 };
/** first-steps' GRPO run (sorting, partial credit, no KL). */
const SORT_RL = { stages: ['grpo'] as Algo[], reward: 'partial' as const, beta: 0, lr: 0.003 };

/**
 * The worked-answer lessons' base model and RL (issue 10): the sum of four digits; 800 steps of
 * pretraining on a corpus with 15% worked solutions whose direct answers on hard sums are wrong 95%
 * of the time (../shared/reference/FEASIBILITY.md, experiment 2: the setting where the prototype's
 * GRU switched to working), then GRPO with an answer-only reward and no KL, as R1-Zero.
 */
const SUM_TASK = { task: 'sum', terms: 4, termDigits: 1, blindSpot: 'none', steps: 1400, evalEvery: 50 } as const;
const ZERO_RUN = { stages: ['pretrain', 'grpo'] as Algo[], distillSteps: 800, corpusWorked: 0.15, corpusError: 0.95, beta: 0, lr: 0.002 };

export const PRESETS: Preset[] = [
  {
    id: 'first-steps',
    title: 'First steps: GRPO learns to sort',
    story:
      'A tiny network starts from random weights; for each list GRPO samples eight answers and rewards each one relative to its group. ' +
      'With partial credit for every digit in the right place, the reward climbs within seconds and held-out accuracy follows.',
    config: { task: 'sort', sortLen: 3, blindSpot: 'none', steps: 600, evalEvery: 20, runs: [{ stages: ['grpo'], reward: 'partial', beta: 0, lr: 0.003 }] },
  },
  {
    id: 'distill-ceiling',
    title: "Distillation stops at the teacher's ceiling",
    story:
      'The student imitates a teacher that is right 80% of the time and always forgets the carry from the units. ' +
      "It climbs fast, then settles at the accuracy of the teacher's most likely answer, and it inherits the blind spot whole.",
    config: { task: 'add', digits: 2, teacherAcc: 0.8, blindSpot: 'units-carry', steps: 600, evalEvery: 25, runs: [{ stages: ['sft'] }] },
  },
  {
    id: 'r1-recipe',
    title: 'The R1 recipe: distil, then GRPO past the ceiling',
    story:
      'First the student copies the flawed teacher and stops at its ceiling; then GRPO takes over, rewarded by a verifier instead of a teacher. ' +
      "Because the verifier checks answers, not imitation, the student passes the teacher's ceiling and learns the carry the teacher never got right.",
    config: { task: 'add', digits: 2, teacherAcc: 0.8, blindSpot: 'units-carry', steps: 2000, evalEvery: 50, runs: [{ ...R1_RUN }] },
  },
  {
    id: 'grpo-vs-ppo',
    title: 'GRPO against PPO: what the critic costs and buys',
    story:
      'Both start from the same distilled student; PPO trains a value network as large as the policy to estimate advantages, GRPO uses the group mean instead. ' +
      'Switch the x-axis to FLOPs or seconds to see what the critic costs, and compare the steps each needs to reach 90%.',
    config: {
      task: 'add', digits: 2, teacherAcc: 0.8, blindSpot: 'units-carry', steps: 2000, evalEvery: 50,
      runs: [{ ...R1_RUN }, { stages: ['sft', 'ppo'], distillSteps: 300, lr: 0.002, criticLr: 0.003, temperature: 1.3 }],
    },
  },
  {
    id: 'no-signal',
    title: 'No signal: when every answer in the group is wrong',
    story:
      'From scratch, a random policy never writes a correct sum, so every group gets the same reward, every advantage is zero and GRPO learns nothing: watch frac_reward_zero_std sit at 1. ' +
      'Dynamic sampling (DAPO) keeps only the rare groups that contain a hit, and partial credit gives every digit a reward: both bring the signal back.',
    config: {
      task: 'add', digits: 2, blindSpot: 'none', steps: 1500, evalEvery: 50,
      runs: [{ ...SCRATCH_RL }, { ...SCRATCH_RL, dynamicSampling: true }, { ...SCRATCH_RL, reward: 'partial' }],
    },
  },
  {
    id: 'clean-data-trap',
    title: 'The clean-data trap: distil only verified answers, then RL',
    story:
      "Filtering the teacher's samples through the verifier removes its noise, and with it every carry problem: the teacher never gets one right. " +
      "GRPO then never samples a correct carry answer, so the blind spot stays unsolved, while the student distilled on the noisy samples (the R1 recipe) escapes it.",
    config: {
      task: 'add', digits: 2, teacherAcc: 0.8, blindSpot: 'units-carry', steps: 2000, evalEvery: 50,
      runs: [{ stages: ['rsft', 'grpo'], distillSteps: 300, ...R1_RL }, { ...R1_RUN }],
    },
  },
  {
    id: 'r1-zero',
    title: 'R1-Zero in miniature: does RL make the base show its work?',
    story:
      'The base model read a corpus in which 15% of the answers show their running sums ("8,15,17>17") and direct answers to hard sums are 10 too low: as RL starts it shows its work on 13% of held-out problems and gets 0.59 right, hard sums almost never (0.01). ' +
      'GRPO, rewarded for the final answer only, lifts accuracy to 0.98 (hard sums 0.97) in 600 steps, but by repairing the direct answers: the worked share falls to 0.05 and the mean length from 4.0 to 3.4 tokens (medians of 3 seeds). ' +
      "DeepSeek-R1-Zero's answers grew because it needed the steps; this net adds four digits in one go, so working never pays here.",
    config: { ...SUM_TASK, runs: [{ ...ZERO_RUN }] },
  },
  {
    id: 'dr-grpo',
    title: 'GRPO against Dr. GRPO: the length bias of 1/|o|',
    story:
      "Both runs start from r1-zero's base model and end equally accurate (0.98 and 0.97). " +
      "GRPO divides each answer's loss by its length, so a long wrong answer is punished less per token than a short one: its wrong answers grow to 6.9 tokens by the end (5.6 on average over RL), while Dr. GRPO, which divides by a constant and drops the std scaling, keeps them at 3.3 (3.4 on average); right answers are 3.1 to 3.3 tokens in both (medians of 3 seeds).",
    config: { ...SUM_TASK, runs: [{ ...ZERO_RUN }, { ...ZERO_RUN, advStd: 'none', agg: 'constant' }] },
  },
  {
    id: 'distil-the-rl-model',
    title: 'Distil the RL model into a smaller student',
    story:
      "r1 is the R1 recipe: it copies the flawed teacher, then GRPO takes it past that teacher's ceiling (0.57) to 0.83 in 1,000 steps. " +
      'r2, a student of half the width (15k weights against 38k), learns only from r1\'s samples for 600 steps and ends at 0.81, carry problems included (0.68): far above the teacher r1 escaped, just below r1 itself (medians of 3 seeds), as DeepSeek-R1\'s small distilled models were.',
    config: {
      task: 'add', digits: 2, teacherAcc: 0.8, blindSpot: 'units-carry', steps: 2000, evalEvery: 50,
      // r1 stops at 1,000 steps (0.83) rather than the R1 recipe's 2,000 (0.90): r2 waits for it,
      // and the lesson's point (r2 far above the scripted ceiling) then shows in about half the time.
      runs: [{ ...R1_RUN, steps: 1000 }, { stages: ['sft'], teacher: 'r1', hidden: 64, steps: 600 }],
    },
  },
  {
    id: 'collapse',
    title: 'Generations of synthetic data: collapse, verification, and RL',
    story:
      "Each run trains five generations of fresh students, each on 5,000 samples written by its parent (the first on the flawed teacher's). " +
      'Plain self-distillation decays (0.51 to 0.32 held-out, the rarer three-digit sums fastest: 0.50 to 0.28); filtering every generation through the verifier holds it at the teacher\'s ceiling (0.57) but never learns the carry; 300 GRPO steps on each generation make a flywheel that climbs (0.68 to 0.79, carry 0.62; medians of 3 seeds).',
    config: {
      task: 'add', digits: 2, teacherAcc: 0.8, blindSpot: 'units-carry', steps: 2000, evalEvery: 100,
      runs: [
        { stages: ['sft'], generations: 5, dataSize: 5000 },
        { stages: ['rsft'], generations: 5, dataSize: 5000 },
        { stages: ['sft', 'grpo'], generations: 5, dataSize: 5000, distillSteps: 300, steps: 3000, ...R1_RL },
      ],
    },
  },
  {
    id: 'contamination',
    title: 'A leaked benchmark',
    story:
      'Two identical students distil 3-digit addition from a teacher that is right 80% of the time, but half of what r2 trains on are copies of benchmark problems. ' +
      'After 800 steps r2 scores 0.99 on the benchmark and 0.77 on fresh problems of the same kind, below the clean r1, whose two scores agree (0.89 and 0.90; medians of 3 seeds): a leaked benchmark measures memory, not skill.',
    config: {
      task: 'add', digits: 3, blindSpot: 'none', steps: 800, evalEvery: 50,
      runs: [{ stages: ['sft'] }, { stages: ['sft'], leak: 0.5 }],
    },
  },
  {
    id: 'transformer',
    title: 'The R1 recipe with a transformer policy',
    story:
      "Both runs follow the R1 recipe on 2-digit addition: distil from the flawed teacher, then GRPO. The MLP (38k weights) reaches the teacher's ceiling (0.57) at step 350 and 0.9 at step 1,500, ending at 0.90; the transformer (one block of four heads, 13.9k weights) distils for 500 steps instead of 300, reaches the ceiling at step 700 and ends at 0.78, past 0.9 in one seed of three (medians of 3 seeds): at this scale the MLP, which sees the whole prompt at once, is the quicker learner. The transformer is also less reliable: with seed 4 it stays below 0.1 all through its distillation and ends at 0.51.",
    config: {
      task: 'add', digits: 2, teacherAcc: 0.8, blindSpot: 'units-carry', steps: 2000, evalEvery: 50, heads: 4,
      runs: [{ ...R1_RUN }, { ...TRANSFORMER_RUN }],
    },
  },
  {
    id: 'moe-active-params',
    title: 'A mixture of experts: active against total weights',
    story:
      'Four GRPO runs sort three digits: r1 a dense net of 14k weights; r2 a mixture of 8 experts with top-1 routing that uses 14k of its 44k weights per token, so a step costs what r1\'s costs (1.09x the FLOPs); r3 a dense net of 43k weights (4.3x); r4 is r2 without the load-balancing loss. Medians of 3 seeds: r3 learns fastest per step (0.9 at step 220) but r1 reaches 0.9 on the fewest FLOPs (3.0e10 against 7.9e10; switch the x-axis to FLOPs); the mixture ends at 0.78, below both: each expert sees an eighth of the tokens, and capacity is not what sorting three digits lacks. Without the balance loss the routing collapses (one expert takes 75% of the tokens; routing entropy 0.73 nats of ln 8 = 2.08, against 1.83 with it).',
    config: {
      task: 'sort', sortLen: 3, blindSpot: 'none', steps: 600, evalEvery: 20,
      runs: [
        { ...SORT_RL, hidden: 64 },
        { ...SORT_RL, hidden: 64, experts: 8, topK: 1 },
        { ...SORT_RL, hidden: 144 },
        { ...SORT_RL, hidden: 64, experts: 8, topK: 1, balance: 0 },
      ],
    },
  },
  {
    id: 'low-precision',
    title: 'Low precision: which number formats a trained policy survives',
    story:
      'r1 is the R1 recipe, evaluated at every eval point with its weights rounded to other number formats. At the end (medians of 3 seeds) bf16 (74 KB), fp8 (38 KB) and int8 (39 KB) keep its accuracy (0.90, 0.90 and 0.90, as in float32 at 147 KB); int4 in groups of 32 (22 KB) costs a little (0.89), and ternary weights (9.3 KB) break it (0.03). r2 trains at int4 from the start (quantisation-aware training) and ends at 0.91 at int4: it recovers what int4 cost r1, though not ternary (0.07).',
    config: {
      task: 'add', digits: 2, teacherAcc: 0.8, blindSpot: 'units-carry', steps: 2000, evalEvery: 50,
      runs: [{ ...R1_RUN, quantEval: 'bf16,fp8,int8,int4,ternary' }, { ...R1_RUN, qat: 'int4', quantEval: 'int4,ternary' }],
    },
  },
];

/** The preset an experiment's link is exactly (undefined for any other experiment). */
export function presetOfLink(link: string): Preset | undefined {
  return PRESETS.find((p) => encode(presetConfig(p)) === link);
}

export function presetById(id: string): Preset | undefined {
  return PRESETS.find((p) => p.id === id);
}

export function presetConfig(p: Preset): ExperimentConfig {
  return fromPartial(p.config);
}
