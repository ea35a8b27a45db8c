/**
 * ONE typed schema for every setting of an experiment: key, type, default, range, doc and URL
 * key come from the tables below, and everything else (the URL codec, the CLI's flag checks, the
 * app's controls and their help text) is derived from them.
 *
 * An experiment = settings shared by all runs (task, reward, policy, teacher, seed, budget) +
 * up to MAX_RUNS runs side by side, each a pipeline of stages ("sft-grpo": distil, then GRPO)
 * with its own hyperparameters.
 *
 * URL hash: `v=1&task=add&runs=sft-grpo,ppo&r2.lr=0.003`. Only non-default values are written,
 * in schema order, after the version key. Decoding is pure and total: unknown keys and bad values
 * come back as problems, each replaced by its default; it never throws.
 */

export const CONFIG_VERSION = 1;
export const MAX_RUNS = 4;
export const MAX_STAGES = 3;

export const ALGOS = ['grpo', 'ppo', 'rloo', 'sft', 'rsft', 'kd', 'pretrain'] as const;
export type Algo = (typeof ALGOS)[number];
export const ALGO_TITLES: Record<Algo, string> = {
  grpo: 'GRPO (group-relative advantages, no critic)',
  ppo: 'PPO with a learned critic (GAE)',
  rloo: 'REINFORCE with a leave-one-out baseline (RLOO)',
  sft: 'Distillation: SFT on teacher samples',
  rsft: 'Distillation: SFT on verified teacher samples only (rejection sampling)',
  kd: "Distillation: match the teacher's token distribution (soft KD)",
  pretrain: 'Pretraining: next-token prediction on a fixed corpus (a base model with latent habits)',
};
const DISTILL_ALGOS: readonly Algo[] = ['sft', 'rsft', 'kd'];
export const isDistill = (a: Algo) => DISTILL_ALGOS.includes(a);

type FieldType = 'int' | 'float' | 'enum' | 'bool' | 'text';

export interface Field<K extends string = string> {
  key: K;
  type: FieldType;
  default: number | string | boolean;
  min?: number;
  max?: number;
  /** Allowed values of an enum. */
  options?: readonly string[];
  /** Text: the value must match this (the empty string is always allowed: no value). */
  pattern?: RegExp;
  /** Text: what the pattern asks for, in plain words. */
  patternDoc?: string;
  /** Short label for a control. */
  label: string;
  /** Help text: what it does, and the paper's name for it where there is one. */
  doc: string;
  /** Which section of the builder the control sits in (the UI uses it; the codec ignores it). */
  group?: string;
}

// ---------------------------------------------------------------------------------------------
// Experiment-level settings
// ---------------------------------------------------------------------------------------------
export const EXPERIMENT_FIELDS = [
  { key: 'seed', type: 'int', default: 1, min: 0, max: 2147483647, label: 'Seed', group: 'experiment',
    doc: 'Seed of the random number generator: the same link, seed and backend give the same numbers, step for step.' },
  { key: 'steps', type: 'int', default: 2000, min: 1, max: 1000000, label: 'Steps', group: 'experiment',
    doc: 'Training budget of every run, in updates (all stages and generations together); a run may set its own.' },
  { key: 'evalEvery', type: 'int', default: 25, min: 1, max: 100000, label: 'Eval every', group: 'experiment',
    doc: 'Steps between evaluations on the held-out set (greedy decoding).' },
  { key: 'arith', type: 'enum', default: 'portable', options: ['portable', 'fma'], label: 'Arithmetic', group: 'experiment',
    doc: "How the matrix products round. portable: every multiply and every add (plain WebAssembly SIMD), so a link gives the same numbers in every browser. fma: fused multiply-adds, each rounded once (relaxed SIMD; Chromium has it): 1.1-1.3x faster steps on the project's test machine, but the numbers then match only engines that fuse them; where it is missing the run takes portable arithmetic and says so." },
  { key: 'task', type: 'enum', default: 'add', options: ['add', 'sort', 'countdown', 'sum'], label: 'Task', group: 'task',
    doc: 'The verifiable task: addition, sorting a list of digits, countdown (reach a target with + - * and each number once), or the sum of several numbers, answered directly ("17$") or with the work shown ("8,15,17>17$"; only the answer after ">" is checked).' },
  { key: 'digits', type: 'int', default: 2, min: 1, max: 3, label: 'Digits', group: 'task',
    doc: 'Addition: digits per operand.' },
  { key: 'sortLen', type: 'int', default: 4, min: 2, max: 6, label: 'List length', group: 'task',
    doc: 'Sorting: number of digits to sort.' },
  { key: 'cdNums', type: 'int', default: 3, min: 3, max: 4, label: 'Numbers', group: 'task',
    doc: 'Countdown: how many numbers the expression must use.' },
  { key: 'terms', type: 'int', default: 4, min: 3, max: 5, label: 'Numbers', group: 'task',
    doc: 'Sum: how many numbers to add.' },
  { key: 'termDigits', type: 'int', default: 1, min: 1, max: 2, label: 'Digits each', group: 'task',
    doc: 'Sum: digits per number.' },
  { key: 'net', type: 'enum', default: 'mlp', options: ['gru', 'mlp', 'transformer'], label: 'Policy', group: 'policy',
    doc: 'Policy family: a GRU, a causal MLP over a window of recent tokens, or a small causal transformer (pre-norm decoder blocks; sampling reuses a KV cache). The critic (PPO) is of the same family.' },
  { key: 'embed', type: 'int', default: 32, min: 4, max: 128, label: 'Embedding', group: 'policy',
    doc: 'Width of the token and position embeddings (the transformer: its model width).' },
  { key: 'hidden', type: 'int', default: 128, min: 8, max: 256, label: 'Hidden', group: 'policy',
    doc: "GRU state size, MLP layer width, or the width of the transformer's MLP block." },
  { key: 'layers', type: 'int', default: 2, min: 1, max: 4, label: 'Layers', group: 'policy',
    doc: 'MLP: number of hidden layers; transformer: number of blocks (attention + MLP). Not used by the GRU.' },
  { key: 'heads', type: 'int', default: 2, min: 1, max: 4, label: 'Heads', group: 'policy',
    doc: 'Transformer only: attention heads per block (the model width is split among them, rounded up).' },
  { key: 'window', type: 'int', default: 10, min: 1, max: 16, label: 'MLP window', group: 'policy',
    doc: 'MLP only: how many recent tokens each position sees.' },
  { key: 'teacherAcc', type: 'float', default: 0.8, min: 0, max: 1, label: 'Teacher accuracy', group: 'teacher',
    doc: 'Probability that the teacher answers right off its blind spot; otherwise it makes a near miss.' },
  { key: 'blindSpot', type: 'enum', default: 'units-carry',
    options: ['none', 'units-carry', 'new-digit', 'duplicates', 'needs-mult', 'dropped-carry'], label: 'Blind spot', group: 'teacher',
    doc: 'A subset on which the teacher is always wrong in the same way (addition: units-carry answers a+b-10, new-digit drops the leading 1; sorting: duplicates drops repeats; countdown: needs-mult never multiplies; sum: dropped-carry answers hard sums 10 too low).' },
] as const satisfies readonly Field[];

/** Number formats a run's policy can be evaluated in (src/core/quant.ts): a comma-separated list. */
export const QUANT_LIST = /^(bf16|fp8|int8|int4|ternary)(,(bf16|fp8|int8|int4|ternary))*$/;

// ---------------------------------------------------------------------------------------------
// Per-run settings (URL keys r1.lr, r2.G, ...)
// ---------------------------------------------------------------------------------------------
/** A policy file named in a link: its (cleaned) file name, '~', and 8 hex digits of its content hash. */
export const POLICY_REF = /^[A-Za-z0-9._-]{1,64}~[0-9a-f]{8}$/;
const POLICY_REF_DOC = 'a policy file reference: name~hash (8 hex digits)';
const QUANT_LIST_DOC = 'formats separated by commas, of bf16, fp8, int8, int4, ternary';

export const RUN_FIELDS = [
  { key: 'steps', type: 'int', default: 0, min: 0, max: 1000000, label: 'Run steps', group: 'pipeline',
    doc: "This run's own training budget in updates (0: the experiment's)." },
  { key: 'distillSteps', type: 'int', default: 300, min: 0, max: 100000, label: 'Stage steps', group: 'pipeline',
    doc: 'Steps of every stage but the last (e.g. distil this many steps, then RL for the rest of the budget).' },
  { key: 'seeds', type: 'int', default: 1, min: 1, max: 5, label: 'Seeds', group: 'pipeline',
    doc: 'Runs of this configuration with seeds seed, seed+1, ...; plots draw their mean with a band.' },
  { key: 'batch', type: 'int', default: 256, min: 8, max: 1024, label: 'Samples/step', group: 'common',
    doc: 'Completions sampled per step (GRPO/RLOO: prompts x G). Distillation: teacher examples per step.' },
  { key: 'reward', type: 'enum', default: 'exact', options: ['exact', 'format', 'partial'], label: 'Reward', group: 'common',
    doc: 'exact: 1 if right else 0. format: right 1, well-formed but wrong gets the format reward. partial: the share of correct digits (closeness for countdown).' },
  { key: 'formatReward', type: 'float', default: 0.1, min: 0, max: 1, label: 'Format reward', group: 'common',
    doc: 'Reward for a well-formed wrong answer when reward = format.' },
  { key: 'lr', type: 'float', default: 0.001, min: 1e-6, max: 1, label: 'RL learning rate', group: 'common',
    doc: 'Adam learning rate of the policy in RL stages (small nets want about 1e-3).' },
  { key: 'distillLr', type: 'float', default: 0.01, min: 1e-6, max: 1, label: 'Distil/pretrain lr', group: 'distill',
    doc: 'Adam learning rate in distillation and pretraining stages (small nets want about 1e-2).' },
  { key: 'maxGradNorm', type: 'float', default: 1, min: 0, max: 100, label: 'Grad clip', group: 'common',
    doc: 'Clip the global gradient norm to this (0: no clipping).' },
  { key: 'temperature', type: 'float', default: 1, min: 0.1, max: 3, label: 'Temperature', group: 'common',
    doc: 'Sampling temperature of rollouts (logits are divided by it in training too, as TRL does).' },
  { key: 'G', type: 'int', default: 8, min: 2, max: 64, label: 'Group size G', group: 'grpo',
    doc: 'GRPO/RLOO: completions sampled per prompt; advantages are relative to the group.' },
  { key: 'beta', type: 'float', default: 0.04, min: 0, max: 1, label: 'KL beta', group: 'grpo',
    doc: 'GRPO: weight of the k3 KL penalty toward the reference policy (DeepSeekMath eq. 3; 0 in Dr. GRPO and DAPO).' },
  { key: 'mu', type: 'int', default: 1, min: 1, max: 8, label: 'Inner iterations mu', group: 'grpo',
    doc: 'GRPO: policy updates per batch of samples (DeepSeekMath Algorithm 1); with mu > 1 the ratio moves and clipping acts.' },
  { key: 'clipLow', type: 'float', default: 0.2, min: 0, max: 1, label: 'Clip low', group: 'grpo',
    doc: 'Lower clip range: the ratio is clipped at 1 - clipLow (PPO/GRPO epsilon).' },
  { key: 'clipHigh', type: 'float', default: 0.2, min: 0, max: 1, label: 'Clip high', group: 'grpo',
    doc: 'Upper clip range: the ratio is clipped at 1 + clipHigh. DAPO clip-higher uses 0.28.' },
  { key: 'advStd', type: 'enum', default: 'sample', options: ['sample', 'population', 'none'], label: 'Adv. std', group: 'grpo',
    doc: 'GRPO advantage scaling: divide by the sample std (N-1, as TRL) or population std (N) of the rewards, or not at all (Dr. GRPO).' },
  { key: 'advScale', type: 'enum', default: 'group', options: ['group', 'batch'], label: 'Std over', group: 'grpo',
    doc: "Whose std scales the advantages: each group's, or the whole batch's." },
  { key: 'agg', type: 'enum', default: 'sequence', options: ['sequence', 'constant', 'token'], label: 'Loss aggregation', group: 'grpo',
    doc: 'sequence: mean over tokens of each completion, then over completions (GRPO). constant: divide by the max length (Dr. GRPO). token: mean over all tokens of the batch (DAPO).' },
  { key: 'dynamicSampling', type: 'bool', default: false, label: 'Dynamic sampling', group: 'grpo',
    doc: 'DAPO: drop groups whose rewards are all equal (they carry no signal) before the update.' },
  { key: 'epochs', type: 'int', default: 1, min: 1, max: 8, label: 'Epochs', group: 'ppo',
    doc: 'PPO: passes over each batch of samples.' },
  { key: 'minibatches', type: 'int', default: 1, min: 1, max: 16, label: 'Minibatches', group: 'ppo',
    doc: 'PPO: minibatches per epoch.' },
  { key: 'gamma', type: 'float', default: 1, min: 0, max: 1, label: 'Gamma', group: 'ppo',
    doc: 'PPO: discount of GAE.' },
  { key: 'gaeLambda', type: 'float', default: 0.95, min: 0, max: 1, label: 'GAE lambda', group: 'ppo',
    doc: 'PPO: lambda of generalised advantage estimation (Schulman et al. 2016).' },
  { key: 'vfCoef', type: 'float', default: 0.5, min: 0, max: 10, label: 'Value coef', group: 'ppo',
    doc: 'PPO: weight of the value loss.' },
  { key: 'vfClip', type: 'float', default: 0.2, min: 0, max: 10, label: 'Value clip', group: 'ppo',
    doc: 'PPO: the new value may move at most this far from the rollout-time value before its loss is clipped.' },
  { key: 'criticLr', type: 'float', default: 0.001, min: 1e-6, max: 1, label: 'Critic learning rate', group: 'ppo',
    doc: 'PPO: Adam learning rate of the critic.' },
  { key: 'klCoef', type: 'float', default: 0, min: 0, max: 1, label: 'KL in reward', group: 'ppo',
    doc: 'PPO: per-token KL penalty toward the reference policy, folded into the reward (InstructGPT).' },
  { key: 'whiten', type: 'bool', default: true, label: 'Whiten advantages', group: 'ppo',
    doc: 'PPO: normalise advantages to mean 0, std 1 over the batch.' },
  { key: 'kdDir', type: 'enum', default: 'forward', options: ['forward', 'reverse'], label: 'KD direction', group: 'distill',
    doc: "Soft distillation: forward KL(teacher || student) on teacher samples (mode-covering), or reverse KL(student || teacher) on the student's own samples (mode-seeking)." },
  { key: 'corpusWorked', type: 'float', default: 0.15, min: 0, max: 1, label: 'Worked share', group: 'pretrain',
    doc: "Pretraining corpus: the share of worked solutions (the running sums, '>', the answer; always correct). The rest answer directly. Only the sum task has work to show." },
  { key: 'corpusError', type: 'float', default: 0.6, min: 0, max: 1, label: 'Direct error', group: 'pretrain',
    doc: "Pretraining corpus: how often a direct answer on a hard item is wrong (mostly a dropped carry), as web text is. Worked solutions are always right." },
  { key: 'teacher', type: 'enum', default: 'scripted', options: ['scripted', 'r1', 'r2', 'r3', 'r4', 'file'], label: 'Teacher', group: 'distill',
    doc: "Whom distillation stages learn from: the scripted flawed teacher, the final policy of another run of this experiment (seed for seed; this run starts when that one finishes: DeepSeek-R1's distilled students), or a policy file (Load policy)." },
  { key: 'teacherFile', type: 'text', default: '', pattern: POLICY_REF, patternDoc: POLICY_REF_DOC, label: 'Teacher file', group: 'distill',
    doc: 'The policy file that teaches when teacher = file (set by Load policy; the link names the file, it does not carry it).' },
  { key: 'teacherTemp', type: 'float', default: 1, min: 0.1, max: 3, label: 'Teacher temp.', group: 'distill',
    doc: "Temperature at which a learned teacher (another run, a file, or the previous generation) samples its data and gives its token distributions; its accuracy lines are computed at it. The scripted teacher has none." },
  { key: 'dataSize', type: 'int', default: 0, min: 0, max: 200000, label: 'Data size', group: 'distill',
    doc: "Distillation data: 0 draws fresh teacher samples every step; N > 0 draws a finite synthetic data set of N teacher samples once (per generation; rsft keeps drawing until N pass the verifier) and trains on minibatches of it." },
  { key: 'generations', type: 'int', default: 1, min: 1, max: 8, label: 'Generations', group: 'generations',
    doc: "Each generation trains a fresh student (its own seeded initialisation) through the run's pipeline, distilling from the previous generation's final policy; generation 1 learns from the run's teacher. The budget is split equally between generations." },
  { key: 'leak', type: 'float', default: 0, min: 0, max: 1, label: 'Benchmark leak', group: 'contamination',
    doc: "Contamination: the share of the problems this run trains on (distillation data and RL prompts) that are copies of held-out benchmark problems. Evaluations then report the benchmark (eval/accuracy) and a fresh set no run trains on (eval/accuracy_fresh)." },
  { key: 'init', type: 'enum', default: 'scratch', options: ['scratch', 'file'], label: 'Start from', group: 'policy',
    doc: 'Random initial weights, or a policy file (Load policy): the run then has that policy\'s architecture.' },
  { key: 'initFile', type: 'text', default: '', pattern: POLICY_REF, patternDoc: POLICY_REF_DOC, label: 'Start file', group: 'policy',
    doc: 'The policy file the run starts from when init = file (set by Load policy; the link names the file, it does not carry it).' },
  { key: 'net', type: 'enum', default: 'shared', options: ['shared', 'gru', 'mlp', 'transformer'], label: 'Policy (run)', group: 'policy',
    doc: "This run's policy family (shared: the experiment's), so that a transformer and an MLP can train side by side." },
  { key: 'hidden', type: 'int', default: 0, min: 0, max: 256, label: 'Hidden (run)', group: 'policy',
    doc: "This run's policy width: GRU state size or MLP layer width (0: the experiment's). A student may be smaller than its teacher." },
  { key: 'layers', type: 'int', default: 0, min: 0, max: 4, label: 'Layers (run)', group: 'policy',
    doc: "This run's number of MLP hidden layers or transformer blocks (0: the experiment's)." },
  { key: 'window', type: 'int', default: 0, min: 0, max: 16, label: 'MLP window (run)', group: 'policy',
    doc: "How many recent tokens this run's MLP sees (0: the experiment's)." },
  { key: 'experts', type: 'int', default: 0, min: 0, max: 16, label: 'Experts', group: 'moe',
    doc: "A mixture of experts (Switch Transformer, DeepSeekMoE) in place of the MLP policy's hidden layers after the first, or of every transformer block's MLP: this many routed experts (0: dense). The GRU has none." },
  { key: 'topK', type: 'int', default: 2, min: 1, max: 4, label: 'Top-k', group: 'moe',
    doc: "Routed experts per token: the router sends each token to its k most probable experts, each weighted by its router probability (as Switch Transformer and DeepSeekMoE do)." },
  { key: 'sharedExperts', type: 'int', default: 0, min: 0, max: 2, label: 'Shared experts', group: 'moe',
    doc: "Always-on experts every token uses besides its routed ones (DeepSeekMoE's shared experts)." },
  { key: 'expertHidden', type: 'int', default: 0, min: 0, max: 256, label: 'Expert width', group: 'moe',
    doc: "Transformer: the inner width of one expert (0: the block's width over top-k, so a token's active MLP is as wide as the dense one: fine-grained experts). The MLP policy's experts are width x width." },
  { key: 'quantEval', type: 'text', default: '', pattern: QUANT_LIST, patternDoc: QUANT_LIST_DOC, label: 'Evaluate at', group: 'precision',
    doc: "At every eval point, also the held-out accuracy with the policy's weight matrices rounded to these formats (post-training quantisation): bf16, fp8 (E4M3, per-tensor scale), int8 (per channel), int4 (groups of 32), ternary (BitNet b1.58). Each as eval/accuracy@<format>, with the model's size in bytes. Empty: none (evals stay cheap)." },
  { key: 'qat', type: 'enum', default: 'none', options: ['none', 'int8', 'int4'], label: 'Train at', group: 'precision',
    doc: "Quantisation-aware training: the policy runs (samples, and computes its gradients) with its weights rounded to this format, and the update goes to full-precision weights kept beside them (a straight-through gradient), so it learns to work at the precision it will run at." },
  { key: 'balance', type: 'float', default: 0.01, min: 0, max: 1, label: 'Balance loss', group: 'moe',
    doc: "Coefficient of the load-balancing loss (Switch Transformer): coef x E x sum over experts of (share of tokens routed there) x (mean router probability). 0: off, and routing may collapse onto a few experts." },
] as const satisfies readonly Field[];

type ValueOf<F> = F extends { type: 'int' | 'float' } ? number
  : F extends { type: 'bool' } ? boolean
  : F extends { type: 'text' } ? string
  : F extends { type: 'enum'; options: readonly (infer O)[] } ? O
  : never;
type Shape<Fs extends readonly Field[]> = { -readonly [F in Fs[number] as F['key']]: ValueOf<F> };

export type ExperimentSettings = Shape<typeof EXPERIMENT_FIELDS>;
export type RunSettings = Shape<typeof RUN_FIELDS>;
export interface RunConfig extends RunSettings {
  /** The pipeline: one to MAX_STAGES algorithms run one after another. */
  stages: Algo[];
}
export interface ExperimentConfig extends ExperimentSettings {
  runs: RunConfig[];
}

export const experimentField = (key: string) => (EXPERIMENT_FIELDS as readonly Field[]).find((f) => f.key === key);
export const runField = (key: string) => (RUN_FIELDS as readonly Field[]).find((f) => f.key === key);

function defaultsOf<T>(fields: readonly Field[]): T {
  return Object.fromEntries(fields.map((f) => [f.key, f.default])) as T;
}

export function defaultRun(stages: Algo[] = ['grpo']): RunConfig {
  return { ...defaultsOf<RunSettings>(RUN_FIELDS), stages: [...stages] };
}

export function defaultConfig(): ExperimentConfig {
  return { ...defaultsOf<ExperimentSettings>(EXPERIMENT_FIELDS), runs: [defaultRun()] };
}

export function cloneConfig(c: ExperimentConfig): ExperimentConfig {
  return { ...c, runs: c.runs.map((r) => ({ ...r, stages: [...r.stages] })) };
}

/** A human name for a pipeline, e.g. 'sft-grpo'. */
export const pipelineId = (stages: readonly Algo[]) => stages.join('-');

// ---------------------------------------------------------------------------------------------
// Messages: every problem and refusal the core reports has a stable code and its parameters
// besides its English text, which is built from the code's template below, so the two cannot
// drift. The page shows the same code in its own language (src/ui/i18n/problems.ts; the Chinese
// templates are in src/ui/i18n/parts/problems.ts under 'problem.<code>', with the same {names}).
// policy-file.ts, imports.ts and checkpoint.ts have tables of their own, made the same way.
// ---------------------------------------------------------------------------------------------
export type MsgParams = Record<string, string | number>;

/** A message of the core: its English text, and the code and parameters it was made from. */
export interface Msg {
  /** In plain English words (what the CLI prints and the tests read). */
  message: string;
  /** Stable code of its template, e.g. 'value.outOfRange'. */
  code?: string;
  /** The values its template's {placeholders} are filled with. */
  params?: MsgParams;
}

/** Fill `{name}` placeholders of a template; an unknown one stays as it is. */
export function fillTemplate(template: string, params?: MsgParams): string {
  if (!params) return template;
  return template.replace(/\{(\w+)\}/g, (m, k: string) => (k in params ? String(params[k]) : m));
}

/** A maker of messages from a table of English templates by code. */
export function messenger<T extends Record<string, string>>(table: T): (code: keyof T & string, params?: MsgParams) => Msg {
  return (code, params) => (params ? { message: fillTemplate(table[code], params), code, params } : { message: table[code], code });
}

/** Only the message of a result (not its `ok`). */
export const msgOf = (m: Msg): Msg => (m.params ? { message: m.message, code: m.code, params: m.params } : m.code ? { message: m.message, code: m.code } : { message: m.message });

/** The link's and the settings' messages: values, the link itself, checks between settings. */
export const CONFIG_MESSAGES = {
  'value.notNumber': 'not a number',
  'value.notFinite': 'not a finite number',
  'value.notWhole': 'must be a whole number',
  'value.outOfRange': 'out of range [{min}, {max}]',
  'value.oneOrZero': 'must be 1 or 0',
  'value.trueOrFalse': 'must be true or false',
  'value.oneOf': 'must be one of {options}',
  'value.policyRef': `must be ${POLICY_REF_DOC}`,
  'value.quantList': `must be ${QUANT_LIST_DOC}`,
  'value.pattern': 'must be {pattern}',
  'value.wellFormed': 'must be well formed',
  'value.text': 'must be text',
  'value.stages': 'a run has 1 to {max} stages',
  'value.unknownAlgo': "unknown algorithm '{name}' (known: {known})",
  'link.duplicate': 'appears more than once; the first is used',
  'link.version': 'unsupported version (this app reads v={version}); reading it as v={version}',
  'link.runCount': '1 to {max} runs',
  'link.unknownSetting': 'unknown setting; ignored',
  'link.unknownRunSetting': 'unknown run setting; ignored',
  'link.noSuchRun': 'there is no run {run} (runs: {runs}); ignored',
  'check.blindSpot': "not a blind spot of task '{task}' (it has: {spots})",
  'check.batchMultiple': 'must be a multiple of the group size G={G}',
  'check.gruExperts': 'the GRU policy has no MLP block to make a mixture of experts',
  'check.topK': 'cannot route to more experts than there are ({experts})',
  'check.mlpExpertLayers': 'an MLP policy with experts needs at least 2 layers (the experts replace the layers after the first)',
  'check.generations': 'each generation needs at least one update (the run has {budget})',
  'check.noFile': 'names no policy file (r{run}.{fileKey} is empty)',
  'check.selfTeacher': 'a run cannot learn from itself',
  'check.noTeacherRun': 'there is no run r{run} (runs: {runs})',
  'check.teacherCycle': 'runs would wait for each other in a circle',
  // The page's own keys in the link (src/ui/url.ts): present, x, hide, preset.
  'view.hide': 'not a part of the page or a setting; ignored',
  'view.preset': 'not a preset (they are: {presets}); ignored',
} as const satisfies Record<string, string>;
export type ConfigMessageCode = keyof typeof CONFIG_MESSAGES;
export const configMsg = messenger(CONFIG_MESSAGES);

// ---------------------------------------------------------------------------------------------
// Values: parse and check one value against its field
// ---------------------------------------------------------------------------------------------
export interface Problem extends Msg {
  /** The URL/CLI key, e.g. 'r2.lr'. */
  key: string;
  /** What was given (as text). */
  value: string;
  /** What is wrong, in plain words (English; `code` and `params` give it in other languages). */
  message: string;
  /** The value used instead (as text), if any. */
  used?: string;
}

/** A text field's value does not match its pattern: say what it asks for. */
function patternMsg(f: Field, otherwise: 'value.wellFormed' | 'value.text'): Msg {
  if (f.pattern === POLICY_REF && f.patternDoc === POLICY_REF_DOC) return configMsg('value.policyRef');
  if (f.pattern === QUANT_LIST && f.patternDoc === QUANT_LIST_DOC) return configMsg('value.quantList');
  return f.patternDoc !== undefined ? configMsg('value.pattern', { pattern: f.patternDoc }) : configMsg(otherwise);
}

const rangeMsg = (f: Field) => configMsg('value.outOfRange', { min: String(f.min), max: String(f.max) });
const optionsMsg = (f: Field) => configMsg('value.oneOf', { options: f.options!.join(', ') });

/** Parse text into a valid value of `f`, or explain why not. */
export function parseValue(f: Field, text: string): { ok: true; value: number | string | boolean } | ({ ok: false } & Msg) {
  const no = (m: Msg) => ({ ok: false as const, ...m });
  switch (f.type) {
    case 'int':
    case 'float': {
      const t = text.trim();
      if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(t)) return no(configMsg('value.notNumber'));
      const x = Number(t);
      if (!Number.isFinite(x)) return no(configMsg('value.notFinite'));
      if (f.type === 'int' && !Number.isInteger(x)) return no(configMsg('value.notWhole'));
      if ((f.min !== undefined && x < f.min) || (f.max !== undefined && x > f.max)) return no(rangeMsg(f));
      return { ok: true, value: x };
    }
    case 'bool':
      if (text === '1' || text === 'true') return { ok: true, value: true };
      if (text === '0' || text === 'false') return { ok: true, value: false };
      return no(configMsg('value.oneOrZero'));
    case 'enum':
      if (f.options!.includes(text)) return { ok: true, value: text };
      return no(optionsMsg(f));
    case 'text':
      if (text === '' || !f.pattern || f.pattern.test(text)) return { ok: true, value: text };
      return no(patternMsg(f, 'value.wellFormed'));
  }
}

/** Check a value already in a config object (from code or JSON) against its field: null if fine, else why not. */
export function checkValueMsg(f: Field, v: unknown): Msg | null {
  if (f.type === 'bool') return typeof v === 'boolean' ? null : configMsg('value.trueOrFalse');
  if (f.type === 'enum') return typeof v === 'string' && f.options!.includes(v) ? null : optionsMsg(f);
  if (f.type === 'text') return typeof v === 'string' && (v === '' || !f.pattern || f.pattern.test(v)) ? null : patternMsg(f, 'value.text');
  if (typeof v !== 'number' || !Number.isFinite(v)) return configMsg('value.notFinite');
  if (f.type === 'int' && !Number.isInteger(v)) return configMsg('value.notWhole');
  if ((f.min !== undefined && v < f.min) || (f.max !== undefined && v > f.max)) return rangeMsg(f);
  return null;
}

/** Check a value already in a config object (from code or JSON) against its field. */
export function checkValue(f: Field, v: unknown): string | null {
  return checkValueMsg(f, v)?.message ?? null;
}

export function formatValue(v: number | string | boolean): string {
  if (typeof v === 'boolean') return v ? '1' : '0';
  return String(v);
}

/** Parse 'sft-grpo' into stages. */
export function parsePipeline(text: string): { ok: true; stages: Algo[] } | ({ ok: false } & Msg) {
  const parts = text.split('-');
  if (parts.length < 1 || parts.length > MAX_STAGES) return { ok: false, ...configMsg('value.stages', { max: MAX_STAGES }) };
  for (const p of parts) {
    if (!(ALGOS as readonly string[]).includes(p)) return { ok: false, ...configMsg('value.unknownAlgo', { name: p, known: ALGOS.join(', ') }) };
  }
  return { ok: true, stages: parts as Algo[] };
}

// ---------------------------------------------------------------------------------------------
// URL codec
// ---------------------------------------------------------------------------------------------
const enc = (s: string) => encodeURIComponent(s).replace(/%2C/g, ',');

/** Encode a config as a URL hash body (no leading '#'): version first, then non-defaults in schema order. */
export function encode(c: ExperimentConfig): string {
  const parts: string[] = [`v=${CONFIG_VERSION}`];
  for (const f of EXPERIMENT_FIELDS as readonly Field[]) {
    const v = (c as unknown as Record<string, number | string | boolean>)[f.key];
    if (v !== f.default) parts.push(`${f.key}=${enc(formatValue(v))}`);
  }
  const runs = c.runs.map((r) => pipelineId(r.stages)).join(',');
  if (runs !== pipelineId(defaultRun().stages)) parts.push(`runs=${runs}`);
  c.runs.forEach((r, i) => {
    for (const f of RUN_FIELDS as readonly Field[]) {
      const v = (r as unknown as Record<string, number | string | boolean>)[f.key];
      if (v !== f.default) parts.push(`r${i + 1}.${f.key}=${enc(formatValue(v))}`);
    }
  });
  return parts.join('&');
}

/** Split 'a=1&b=2' into pairs, never throwing on malformed percent-escapes. */
function splitPairs(hash: string): { key: string; value: string; raw: string }[] {
  const out: { key: string; value: string; raw: string }[] = [];
  for (const raw of hash.replace(/^#/, '').split('&')) {
    if (raw === '') continue;
    const eq = raw.indexOf('=');
    const k = eq < 0 ? raw : raw.slice(0, eq);
    const v = eq < 0 ? '' : raw.slice(eq + 1);
    const dec = (s: string) => {
      try {
        return decodeURIComponent(s);
      } catch {
        return s;
      }
    };
    out.push({ key: dec(k), value: dec(v), raw });
  }
  return out;
}

/** Shorten untrusted text for a message (it is shown as text, never as HTML). */
const clip = (s: string) => (s.length > 40 ? s.slice(0, 40) + '…' : s);

export interface Decoded {
  config: ExperimentConfig;
  problems: Problem[];
}

/**
 * Decode a URL hash (with or without '#'). Total: every unknown key, bad value, duplicate key or
 * unsupported version becomes a Problem and its default is used.
 */
export function decode(hash: string): Decoded {
  const c = defaultConfig();
  const problems: Problem[] = [];
  const pairs = splitPairs(hash);
  const seen = new Set<string>();
  const runPairs: { idx: number; key: string; value: string; fullKey: string }[] = [];
  for (const { key, value } of pairs) {
    if (seen.has(key)) {
      problems.push({ key: clip(key), value: clip(value), ...configMsg('link.duplicate') });
      continue;
    }
    seen.add(key);
    if (key === 'v') {
      if (value !== String(CONFIG_VERSION)) {
        problems.push({ key, value: clip(value), ...configMsg('link.version', { version: CONFIG_VERSION }), used: String(CONFIG_VERSION) });
      }
      continue;
    }
    if (key === 'runs') {
      const names = value.split(',');
      if (names.length < 1 || names.length > MAX_RUNS) {
        problems.push({ key, value: clip(value), ...configMsg('link.runCount', { max: MAX_RUNS }), used: pipelineId(c.runs[0].stages) });
        continue;
      }
      const runs: RunConfig[] = [];
      names.forEach((n) => {
        const p = parsePipeline(n);
        if (p.ok) runs.push(defaultRun(p.stages));
        else {
          problems.push({ key: 'runs', value: clip(n), ...msgOf(p), used: 'grpo' });
          runs.push(defaultRun());
        }
      });
      c.runs = runs;
      continue;
    }
    const m = /^r(\d+)\.(.+)$/.exec(key);
    if (m) {
      runPairs.push({ idx: Number(m[1]) - 1, key: m[2], value, fullKey: key });
      continue;
    }
    const f = experimentField(key);
    if (!f) {
      problems.push({ key: clip(key), value: clip(value), ...configMsg('link.unknownSetting') });
      continue;
    }
    const p = parseValue(f, value);
    if (p.ok) (c as unknown as Record<string, unknown>)[f.key] = p.value;
    else problems.push({ key, value: clip(value), ...msgOf(p), used: formatValue(f.default) });
  }
  // Run settings after 'runs', wherever they stood in the hash.
  for (const { idx, key, value, fullKey } of runPairs) {
    const f = runField(key);
    if (!f) {
      problems.push({ key: clip(fullKey), value: clip(value), ...configMsg('link.unknownRunSetting') });
      continue;
    }
    if (idx < 0 || idx >= c.runs.length) {
      problems.push({ key: clip(fullKey), value: clip(value), ...configMsg('link.noSuchRun', { run: idx + 1, runs: c.runs.length }) });
      continue;
    }
    const p = parseValue(f, value);
    if (p.ok) (c.runs[idx] as unknown as Record<string, unknown>)[f.key] = p.value;
    else problems.push({ key: fullKey, value: clip(value), ...msgOf(p), used: formatValue(f.default) });
  }
  problems.push(...crossCheck(c));
  return { config: c, problems };
}

/** Blind spots each task has ('none' first, then the default for that task). */
export const BLIND_SPOTS: Record<ExperimentConfig['task'], string[]> = {
  add: ['none', 'units-carry', 'new-digit'],
  sort: ['none', 'duplicates'],
  countdown: ['none', 'needs-mult'],
  sum: ['none', 'dropped-carry'],
};

/**
 * Checks between settings (a field alone is fine, the combination is not). Fixes the config in
 * place and reports what it changed.
 */
export function crossCheck(c: ExperimentConfig): Problem[] {
  const problems: Problem[] = [];
  const spots = BLIND_SPOTS[c.task];
  if (!spots.includes(c.blindSpot)) {
    const used = spots[1];
    problems.push({ key: 'blindSpot', value: c.blindSpot, ...configMsg('check.blindSpot', { task: c.task, spots: spots.join(', ') }), used });
    c.blindSpot = used as ExperimentConfig['blindSpot'];
  }
  c.runs.forEach((r, i) => {
    if (r.batch % r.G !== 0 && r.stages.some((s) => s === 'grpo' || s === 'rloo')) {
      const used = Math.max(r.G, Math.round(r.batch / r.G) * r.G);
      problems.push({ key: `r${i + 1}.batch`, value: String(r.batch), ...configMsg('check.batchMultiple', { G: r.G }), used: String(used) });
      r.batch = used;
    }
    if (r.experts > 0) {
      const net = netOf(c, r);
      if (net === 'gru') {
        problems.push({ key: `r${i + 1}.experts`, value: String(r.experts), ...configMsg('check.gruExperts'), used: '0' });
        r.experts = 0;
      } else {
        if (r.topK > r.experts) {
          problems.push({ key: `r${i + 1}.topK`, value: String(r.topK), ...configMsg('check.topK', { experts: r.experts }), used: String(r.experts) });
          r.topK = r.experts;
        }
        if (net === 'mlp' && (r.layers > 0 ? r.layers : c.layers) < 2) {
          problems.push({ key: `r${i + 1}.layers`, value: String(r.layers), ...configMsg('check.mlpExpertLayers'), used: '2' });
          r.layers = 2;
        }
      }
    }
    const budget = runSteps(c, r);
    if (r.generations > budget) {
      problems.push({ key: `r${i + 1}.generations`, value: String(r.generations), ...configMsg('check.generations', { budget }), used: String(budget) });
      r.generations = budget;
    }
    // A policy file is named by its reference; without one, 'file' means nothing.
    for (const [key, fileKey, none] of [['teacher', 'teacherFile', 'scripted'], ['init', 'initFile', 'scratch']] as const) {
      const rec = r as unknown as Record<string, string>;
      if (rec[key] === 'file' && rec[fileKey] === '') {
        problems.push({ key: `r${i + 1}.${key}`, value: 'file', ...configMsg('check.noFile', { run: i + 1, fileKey }), used: none });
        rec[key] = none;
      }
      if (rec[key] !== 'file') rec[fileKey] = '';
    }
    const t = teacherRunOf(r);
    if (t !== null && (t === i || t >= c.runs.length)) {
      const why = t === i ? configMsg('check.selfTeacher') : configMsg('check.noTeacherRun', { run: t + 1, runs: c.runs.length });
      problems.push({ key: `r${i + 1}.teacher`, value: r.teacher, ...why, used: 'scripted' });
      r.teacher = 'scripted';
    }
  });
  // Runs that learn from runs must not go round in a circle: the run closing a cycle keeps the scripted teacher.
  for (;;) {
    const cyc = teacherCycle(c);
    if (cyc === null) break;
    const r = c.runs[cyc];
    problems.push({ key: `r${cyc + 1}.teacher`, value: r.teacher, ...configMsg('check.teacherCycle'), used: 'scripted' });
    r.teacher = 'scripted';
  }
  return problems;
}

/** The run (0-based) whose final policy teaches run `r`, or null (the scripted teacher or a file). */
export function teacherRunOf(r: Pick<RunConfig, 'teacher'>): number | null {
  const m = /^r(\d)$/.exec(r.teacher);
  return m ? Number(m[1]) - 1 : null;
}

/**
 * What run i's numbers depend on, as a canonical string: the shared settings, its own, those of the
 * run that teaches it (and so on up the chain, wherever those runs sit in the list), and whether any
 * run leaks benchmark problems (every run then also reports fresh-set accuracy). A checkpoint
 * resumes only a run of the same identity and seed, whatever the rest of the experiment is.
 */
export function runIdentity(c: ExperimentConfig, i: number): string {
  const chain: RunConfig[] = [];
  const seen = new Set<number>();
  for (let k: number | null = i; k !== null && k < c.runs.length && !seen.has(k); k = teacherRunOf(c.runs[k])) {
    seen.add(k);
    chain.push({ ...c.runs[k], teacher: teacherRunOf(c.runs[k]) === null ? c.runs[k].teacher : (`r${chain.length + 2}` as RunConfig['teacher']) });
  }
  return encode({ ...c, runs: chain }) + (c.runs.some((r) => r.leak > 0) ? '&leaks' : '');
}

/** A run on a cycle of teacher references (the highest-numbered one on it), or null. */
function teacherCycle(c: ExperimentConfig): number | null {
  for (let i = 0; i < c.runs.length; i++) {
    const seen: number[] = [];
    let k: number | null = i;
    while (k !== null && k < c.runs.length && !seen.includes(k)) {
      seen.push(k);
      k = teacherRunOf(c.runs[k]);
    }
    if (k !== null && k < c.runs.length && k === i) return Math.max(...seen);
  }
  return null;
}

/**
 * The order in which runs can train: every run after the run that teaches it (`rK.teacher=rJ`).
 * Runs keep their own order otherwise. Assumes a checked config (no cycles: crossCheck).
 */
export function runOrder(c: ExperimentConfig): number[] {
  const order: number[] = [];
  const visit = (i: number, depth: number) => {
    if (order.includes(i) || depth > c.runs.length) return;
    const t = teacherRunOf(c.runs[i]);
    if (t !== null && t < c.runs.length && t !== i) visit(t, depth + 1);
    if (!order.includes(i)) order.push(i);
  };
  c.runs.forEach((_, i) => visit(i, 0));
  return order;
}

/** Which seed of the teaching run teaches seed `seedIndex` of a run: the same one, or its last if it has fewer. */
export function teacherSeed(c: ExperimentConfig, teacherRun: number, seedIndex: number): number {
  return Math.min(seedIndex, c.runs[teacherRun].seeds - 1);
}

/** Runs that learn, directly or through others, from run `i` (0-based). */
export function dependentsOf(c: ExperimentConfig, i: number): number[] {
  const out: number[] = [];
  let frontier = [i];
  while (frontier.length) {
    const next: number[] = [];
    c.runs.forEach((r, j) => {
      const t = teacherRunOf(r);
      if (t !== null && frontier.includes(t) && !out.includes(j) && j !== i) next.push(j);
    });
    out.push(...next);
    frontier = next;
  }
  return out;
}

/** A policy file a run needs: as its teacher (only if it distils) or as its starting point. */
export interface NeededFile {
  run: number;
  as: 'teacher' | 'init';
  /** The reference the link names it by (`name~hash`). */
  ref: string;
}

/** The policy files the experiment's runs need that `has` does not have. */
export function missingPolicyFiles(c: ExperimentConfig, has: (ref: string) => boolean): NeededFile[] {
  const out: NeededFile[] = [];
  c.runs.forEach((r, i) => {
    if (r.teacher === 'file' && r.stages.some(isDistill) && !has(r.teacherFile)) out.push({ run: i, as: 'teacher', ref: r.teacherFile });
    if (r.init === 'file' && !has(r.initFile)) out.push({ run: i, as: 'init', ref: r.initFile });
  });
  return out;
}

/** A run's budget in updates: its own, or the experiment's. */
/** A run's policy family: its own, or the experiment's. */
export const netOf = (c: Pick<ExperimentConfig, 'net'>, r: Pick<RunConfig, 'net'>): 'gru' | 'mlp' | 'transformer' => (r.net === 'shared' ? c.net : r.net);

export const runSteps = (c: ExperimentConfig, r: RunConfig) => (r.steps > 0 ? r.steps : c.steps);

/**
 * Validate a config object from code or JSON (e.g. a preset): every field present and in range.
 * Returns the problems (empty if valid).
 */
export function validate(c: ExperimentConfig): Problem[] {
  const problems: Problem[] = [];
  for (const f of EXPERIMENT_FIELDS as readonly Field[]) {
    const v = (c as unknown as Record<string, unknown>)[f.key];
    const m = checkValueMsg(f, v);
    if (m) problems.push({ key: f.key, value: String(v), ...m });
  }
  if (!Array.isArray(c.runs) || c.runs.length < 1 || c.runs.length > MAX_RUNS) {
    problems.push({ key: 'runs', value: String(c.runs?.length), ...configMsg('link.runCount', { max: MAX_RUNS }) });
    return problems;
  }
  c.runs.forEach((r, i) => {
    for (const f of RUN_FIELDS as readonly Field[]) {
      const v = (r as unknown as Record<string, unknown>)[f.key];
      const m = checkValueMsg(f, v);
      if (m) problems.push({ key: `r${i + 1}.${f.key}`, value: String(v), ...m });
    }
    const p = parsePipeline(pipelineId(r.stages ?? []));
    if (!p.ok) problems.push({ key: 'runs', value: pipelineId(r.stages ?? []), ...msgOf(p) });
  });
  return problems;
}

/** Apply a partial experiment (e.g. a preset) on top of the defaults. */
export function fromPartial(p: Partial<ExperimentSettings> & { runs?: (Partial<RunSettings> & { stages: Algo[] })[] }): ExperimentConfig {
  const c = defaultConfig();
  const { runs, ...rest } = p;
  Object.assign(c, rest);
  if (runs) c.runs = runs.map((r) => ({ ...defaultRun(r.stages), ...r, stages: [...r.stages] }));
  return c;
}

/**
 * Layer a hash over a base config: every key the hash sets wins; the rest comes from the base.
 * (Used by the CLI's `--preset NAME HASH` and by presets loaded under a link's own settings.)
 */
export function overlay(base: ExperimentConfig, hash: string): Decoded {
  const pairs = splitPairs(hash).filter((p) => p.key !== 'v');
  const setKeys = new Set(pairs.map((p) => p.key));
  const baseParts = splitPairs(encode(base)).filter((p) => !setKeys.has(p.key) && !(setKeys.has('runs') && /^r\d+\./.test(p.key)));
  return decode([...baseParts, ...pairs].map((p) => p.raw).join('&'));
}
