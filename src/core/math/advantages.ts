/**
 * Advantages: how much better one sample did than a baseline.
 *
 * Critic-free, one number per completion, rewards grouped contiguously (G completions per prompt):
 * - groupNormalize: GRPO (Shao et al. 2024, DeepSeekMath, section 4.1.2) and Dr. GRPO;
 * - rlooAdvantages: REINFORCE leave-one-out (Kool et al. 2019; Ahmadian et al. 2024, eq. 6).
 * Per token, with a learned critic (PPO as RLHF uses it), on row-major [n * T] arrays:
 * - ppoTokenRewards: the sequence reward on the last token, optional KL penalty (Ouyang et al. 2022);
 * - gae: Generalized Advantage Estimation (Schulman et al. 2016, eq. 16);
 * - whiten: masked standardisation of the advantages (as TRL / OpenAI's lm-human-preferences);
 * - explainedVariance: how much of the returns the critic's values predict.
 */
import { checkLength, maskedMean, maskedVariance } from './masked';

export type AdvStd = 'sample' | 'population' | 'none';
export type AdvScale = 'group' | 'batch';

export interface GroupNormalizeOpts {
  /** 'sample' (N-1, torch.std / TRL default), 'population' (N), or 'none' (Dr. GRPO: no division). */
  std?: AdvStd;
  /** Divide by each group's std ('group', GRPO) or by the std of the whole batch ('batch'). */
  scale?: AdvScale;
  /** Added to the std before dividing, so all-equal groups give 0 instead of 0/0. */
  eps?: number;
}

/** Mean of xs[from, from + len). */
function meanRange(xs: ArrayLike<number>, from: number, len: number): number {
  let s = 0;
  for (let k = from; k < from + len; k++) s += xs[k];
  return s / len;
}

/** Standard deviation of xs[from, from + len), with N-1 ('sample') or N ('population'). */
function stdRange(xs: ArrayLike<number>, from: number, len: number, kind: 'sample' | 'population'): number {
  const dof = kind === 'sample' ? len - 1 : len;
  if (dof <= 0) return 0; // one sample: no spread to measure
  const mu = meanRange(xs, from, len);
  let s = 0;
  for (let k = from; k < from + len; k++) s += (xs[k] - mu) ** 2;
  return Math.sqrt(s / dof);
}

function checkGroups(rewards: ArrayLike<number>, groupSize: number): number {
  if (!Number.isInteger(groupSize) || groupSize < 1) throw new RangeError(`group size must be a positive integer, got ${groupSize}`);
  if (rewards.length % groupSize !== 0) throw new RangeError(`${rewards.length} rewards do not split into groups of ${groupSize}`);
  return rewards.length / groupSize;
}

/**
 * For each group, whether all its rewards are equal (its std is 0). Such a group has all-zero
 * advantages and so contributes no policy gradient; DAPO's dynamic sampling drops it (Yu et al.
 * 2025, section 3.2). Compared exactly, not through a computed std, which rounding can make ~1e-17.
 */
export function groupAllEqual(rewards: ArrayLike<number>, groupSize: number): boolean[] {
  const nGroups = checkGroups(rewards, groupSize);
  const out: boolean[] = [];
  for (let g = 0; g < nGroups; g++) {
    let same = true;
    for (let j = 1; j < groupSize && same; j++) same = rewards[g * groupSize + j] === rewards[g * groupSize];
    out.push(same);
  }
  return out;
}

/** The metric frac_reward_zero_std: share of groups whose rewards are all equal (0 if no groups). */
export function fracRewardZeroStd(rewards: ArrayLike<number>, groupSize: number): number {
  const flags = groupAllEqual(rewards, groupSize);
  return flags.length ? flags.filter(Boolean).length / flags.length : 0;
}

/**
 * Group-relative advantages, one per completion (GRPO outcome supervision, DeepSeekMath 4.1.2):
 *     A_i = (r_i - mean_g) / (std_g + eps)
 * over the G = groupSize completions of the same prompt. Variants:
 * - std 'none' is Dr. GRPO (Liu et al. 2025, section 3.1): A_i = r_i - mean_g, since dividing by
 *   std_g up-weights prompts that are nearly always or never solved;
 * - scale 'batch' divides by the std of all rewards in the batch instead of the group's (the
 *   batch-level normalisation of REINFORCE++, Hu 2025, also discussed with Dr. GRPO), with the
 *   same sample/population choice. The centring stays per group.
 * A group whose rewards are all equal gets exactly 0.
 */
export function groupNormalize(rewards: ArrayLike<number>, groupSize: number, opts: GroupNormalizeOpts = {}): Float64Array {
  const { std = 'sample', scale = 'group', eps = 1e-4 } = opts;
  const nGroups = checkGroups(rewards, groupSize);
  const batchStd = std !== 'none' && scale === 'batch' ? stdRange(rewards, 0, rewards.length, std) : 0;
  const adv = new Float64Array(rewards.length);
  const equal = groupAllEqual(rewards, groupSize);
  for (let g = 0; g < nGroups; g++) {
    if (equal[g]) continue; // exact zeros rather than rounding noise / eps
    const from = g * groupSize;
    const mu = meanRange(rewards, from, groupSize);
    const denom = std === 'none' ? 1 : (scale === 'batch' ? batchStd : stdRange(rewards, from, groupSize, std)) + eps;
    for (let k = from; k < from + groupSize; k++) adv[k] = (rewards[k] - mu) / denom;
  }
  return adv;
}

/**
 * REINFORCE leave-one-out advantages (RLOO; Kool et al. 2019, Ahmadian et al. 2024 eq. 6):
 *     A_i = r_i - (1/(G-1)) sum_{j != i} r_j
 * each sample's baseline is the mean reward of the other samples of its prompt, which keeps the
 * estimate unbiased. With G = 1 there is no other sample and the baseline is 0 (plain REINFORCE).
 */
export function rlooAdvantages(rewards: ArrayLike<number>, groupSize: number): Float64Array {
  const nGroups = checkGroups(rewards, groupSize);
  const adv = new Float64Array(rewards.length);
  for (let g = 0; g < nGroups; g++) {
    const from = g * groupSize;
    let sum = 0;
    for (let k = from; k < from + groupSize; k++) sum += rewards[k];
    for (let k = from; k < from + groupSize; k++) adv[k] = groupSize > 1 ? rewards[k] - (sum - rewards[k]) / (groupSize - 1) : rewards[k];
  }
  return adv;
}

export interface PpoTokenRewardOpts {
  /** log pi_old of the sampled tokens [n * T] (needed when klCoef != 0). */
  oldLogp?: ArrayLike<number>;
  /** log pi_ref of the sampled tokens [n * T] (needed when klCoef != 0). */
  refLogp?: ArrayLike<number>;
  /** Weight of the per-token KL penalty; 0 turns it off. */
  klCoef?: number;
}

/**
 * Per-token rewards for PPO in the RLHF setting (Ouyang et al. 2022, InstructGPT, eq. 2; TRL's
 * PPOTrainer): the verifier's sequence reward r_i sits on the last valid token of row i, and
 * with klCoef != 0 every valid token also gets -klCoef * (log pi_old - log pi_ref) (the k1
 * estimator of the KL to the reference policy, on the sampled tokens). A row without valid
 * tokens gets nothing. Returns [n * T].
 */
export function ppoTokenRewards(
  finalReward: ArrayLike<number>, mask: ArrayLike<number>, n: number, T: number, opts: PpoTokenRewardOpts = {},
): Float64Array {
  const { oldLogp, refLogp, klCoef = 0 } = opts;
  checkLength('finalReward', finalReward, n);
  checkLength('mask', mask, n * T);
  const out = new Float64Array(n * T);
  for (let i = 0; i < n; i++) {
    let last = -1;
    for (let t = 0; t < T; t++) if (mask[i * T + t] !== 0) last = t;
    if (last >= 0) out[i * T + last] = finalReward[i];
  }
  if (klCoef !== 0) {
    if (!oldLogp || !refLogp) throw new RangeError('ppoTokenRewards: klCoef != 0 needs oldLogp and refLogp');
    checkLength('oldLogp', oldLogp, n * T);
    checkLength('refLogp', refLogp, n * T);
    for (let k = 0; k < n * T; k++) if (mask[k] !== 0) out[k] -= klCoef * (oldLogp[k] - refLogp[k]) * mask[k];
  }
  return out;
}

/**
 * Generalized Advantage Estimation (Schulman et al. 2016, eq. 16), backwards over each row:
 *     delta_t = r_t + gamma * V_{t+1} - V_t,     A_t = delta_t + gamma * lambda * A_{t+1},
 * where V after the last valid token is 0 (the completion is terminal there) and A is 0 on
 * padding. returns = (A + V) * mask: the critic's regression targets. All arrays are [n * T].
 */
export function gae(
  rewards: ArrayLike<number>, values: ArrayLike<number>, mask: ArrayLike<number>,
  n: number, T: number, gamma: number, lambda: number,
): { advantages: Float64Array; returns: Float64Array } {
  checkLength('rewards', rewards, n * T);
  checkLength('values', values, n * T);
  checkLength('mask', mask, n * T);
  const advantages = new Float64Array(n * T);
  const returns = new Float64Array(n * T);
  for (let i = 0; i < n; i++) {
    let nextAdv = 0;
    for (let t = T - 1; t >= 0; t--) {
      const k = i * T + t;
      const nextValue = t + 1 < T ? values[k + 1] * mask[k + 1] : 0;
      const delta = rewards[k] + gamma * nextValue - values[k];
      nextAdv = (delta + gamma * lambda * nextAdv) * mask[k];
      advantages[k] = nextAdv;
      returns[k] = (nextAdv + values[k]) * mask[k];
    }
  }
  return { advantages, returns };
}

/**
 * Whitening: (x - mu) / sqrt(var + eps) on valid tokens, 0 on padding, with mu and var the masked
 * mean and masked population variance over all valid tokens of the batch.
 */
export function whiten(x: ArrayLike<number>, mask: ArrayLike<number>, eps = 1e-8): Float64Array {
  const mu = maskedMean(x, mask);
  const sd = Math.sqrt(maskedVariance(x, mask) + eps);
  const out = new Float64Array(x.length);
  for (let k = 0; k < x.length; k++) if (mask[k] !== 0) out[k] = ((x[k] - mu) / sd) * mask[k];
  return out;
}

/**
 * Explained variance of the critic, 1 - Var[returns - values] / Var[returns], over valid tokens
 * (masked population variances; cleanrl's ppo.py diagnostic). 1 is a perfect critic, 0 is no
 * better than a constant, negative is worse. NaN when Var[returns] is 0: callers drop it.
 */
export function explainedVariance(values: ArrayLike<number>, returns: ArrayLike<number>, mask: ArrayLike<number>): number {
  checkLength('values', values, returns.length);
  const varR = maskedVariance(returns, mask);
  if (!(varR > 0)) return NaN;
  const diff = new Float64Array(returns.length);
  for (let k = 0; k < diff.length; k++) diff[k] = returns[k] - values[k];
  return 1 - maskedVariance(diff, mask) / varR;
}
