/**
 * Policies are things you can keep: one versioned file format for a trained policy (its weights by
 * name, its architecture, the task it speaks, and where it came from: the experiment's link, the
 * run, seed, generation and step). PyTorch's state_dict is the model: plain named tensors plus a
 * spec, no code. The same format travels between workers (weights as transferable buffers) and
 * is what `npm run sim -- --save-policy FILE` writes and the page's Download policy saves.
 *
 * A file is JSON; each weight tensor is base64 of its float32 values (little-endian). Parsing is
 * total: anything that is not a policy of this version, or does not fit the task it is used on,
 * comes back as a message naming what is wrong, never as an exception.
 */
import { type Msg, messenger } from './config';
import type { NetSpec } from './nets/net';
import { headDim } from './nets/sizes';
import { hashString } from './rng';
import type { Task } from './tasks/task';

export const POLICY_FORMAT = 'grpo-playground-policy';
export const POLICY_VERSION = 1;

/** What a policy speaks: enough to refuse a file trained on another task or vocabulary. */
export interface PolicyTask {
  /** Task configuration key, e.g. 'add/2', 'sort/3', 'countdown/3'. */
  key: string;
  title: string;
  vocab: string[];
  promptLen: number;
  maxNew: number;
}

/** Where a policy came from. */
export interface PolicyOrigin {
  /** The experiment's link (hash body, no '#') that trained it. */
  link: string;
  /** 1-based run number, seed, generation and the update it was saved at. */
  run: number;
  seed: number;
  generation: number;
  step: number;
}

/** A policy in memory: weights as Float32Arrays, in the net's variable order. */
export interface Policy extends PolicyOrigin {
  format: typeof POLICY_FORMAT;
  version: number;
  task: PolicyTask;
  net: NetSpec;
  params: number;
  weights: { name: string; shape: number[]; data: Float32Array }[];
}

/** The task key `createTask` builds the task under, from the task itself. */
export function taskKey(task: Task): string {
  const t = task as Task & { digits?: number; length?: number; numbers?: number; terms?: number };
  const size = task.id === 'add' ? t.digits : task.id === 'sort' ? t.length : task.id === 'sum' ? `${t.terms}x${t.digits}` : t.numbers;
  return `${task.id}/${size}`;
}

export function policyTaskOf(task: Task): PolicyTask {
  return { key: taskKey(task), title: task.title, vocab: [...task.vocab], promptLen: task.promptLen, maxNew: task.maxNew };
}

/**
 * The weights an architecture has, by name and shape, in the net's variable order (what
 * src/core/nets/net.ts builds: test/policy-file.test.ts checks the two agree). Names are each
 * variable's prefix and its index among those with that prefix.
 */
export function weightLayout(spec: NetSpec): { name: string; shape: number[] }[] {
  const { vocab: V, maxLen, embed: E, hidden: H, layers, window: W, outDim: O } = spec;
  const out: { name: string; shape: number[] }[] = [];
  const add = (prefix: string, shape: number[], times = 1) => {
    for (let k = 0; k < times; k++) out.push({ name: `${prefix}.${out.filter((w) => w.name.startsWith(prefix + '.')).length}`, shape });
  };
  if (spec.kind === 'gru') {
    add('gru_tok', [V, E]);
    add('gru_pos', [maxLen, E]);
    add('gru_wx', [E, H], 3);
    add('gru_bx', [H], 3);
    add('gru_wh', [H, H], 3);
    add('gru_bhn', [H]);
    add('gru_wo', [H, O]);
    add('gru_bo', [O]);
  } else if (spec.kind === 'transformer') {
    const A = Math.max(1, spec.heads ?? 1) * headDim(spec);
    const m = spec.moe && spec.moe.experts > 0 ? spec.moe : null;
    add('tf_emb', [V + maxLen, E]);
    for (let l = 0; l < layers; l++) {
      add('tf_ln1g', [E]);
      add('tf_ln1b', [E]);
      add('tf_wq', [E, A]);
      add('tf_wk', [E, A]);
      add('tf_wv', [E, A]);
      add('tf_wo', [A, E]);
      add('tf_bo', [E]);
      add('tf_ln2g', [E]);
      add('tf_ln2b', [E]);
      if (m) {
        const n = m.experts + m.shared;
        add('moe_gate', [E, m.experts]);
        add('moe_w1', [E, n * m.expertHidden]);
        add('moe_b1', [n * m.expertHidden]);
        add('moe_w2', [n * m.expertHidden, E]);
        add('moe_b2', [n, E]);
      } else {
        add('tf_w1', [E, H]);
        add('tf_b1', [H]);
        add('tf_w2', [H, E]);
        add('tf_b2', [E]);
      }
    }
    add('tf_lnfg', [E]);
    add('tf_lnfb', [E]);
    add('tf_wout', [E, O]);
    add('tf_bout', [O]);
  } else if (spec.moe && spec.moe.experts > 0) {
    // The first layer dense, the others mixtures of width x width experts.
    const m = spec.moe;
    add('mlp_w', [W * V + maxLen, H]);
    add('mlp_b', [H]);
    for (let l = 1; l < layers; l++) {
      add('moe_gate', [H, m.experts]);
      add('moe_w1', [H, (m.experts + m.shared) * H]);
      add('moe_b1', [(m.experts + m.shared) * H]);
    }
    add('mlp_wo', [H, O]);
    add('mlp_bo', [O]);
  } else {
    for (let l = 0; l < layers; l++) add('mlp_w', [l === 0 ? W * V + maxLen : H, H]);
    add('mlp_b', [H], layers);
    add('mlp_wo', [H, O]);
    add('mlp_bo', [O]);
  }
  return out;
}

/** 8 hex digits identifying a policy's content (architecture and weights): what a link names. */
export function policyHash(p: Policy): string {
  let h = hashString(JSON.stringify({ task: p.task.key, net: p.net }));
  for (const w of p.weights) {
    const bytes = new Uint8Array(w.data.buffer, w.data.byteOffset, w.data.byteLength);
    for (let i = 0; i < bytes.length; i++) {
      h ^= bytes[i];
      h = Math.imul(h, 0x01000193);
    }
  }
  return (h >>> 0).toString(16).padStart(8, '0');
}

/** A file name made safe for a link: letters, digits, '.', '_', '-', at most 64 characters. */
export function cleanName(name: string): string {
  const base = name.replace(/^.*[\\/]/, '').replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^-+|-+$/g, '');
  return (base || 'policy').slice(0, 64);
}

/** The reference a link carries for a policy file: `name~hash`. */
export function policyRef(fileName: string, p: Policy): string {
  return `${cleanName(fileName)}~${policyHash(p)}`;
}

/** The name part of a reference, for messages. */
export const refName = (ref: string) => ref.replace(/~[0-9a-f]{8}$/, '');

/** A suggested file name for a policy. */
export function policyFileName(p: Policy): string {
  const gen = p.generation > 1 ? `-gen${p.generation}` : '';
  return `policy-${p.task.key.replace('/', '')}-r${p.run}-seed${p.seed}${gen}-step${p.step}.json`;
}

// ---------------------------------------------------------------------------------------------
// Text form
// ---------------------------------------------------------------------------------------------

function toBase64(x: Float32Array): string {
  const bytes = new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

function fromBase64(s: string): Float32Array | null {
  let bin: string;
  try {
    bin = atob(s);
  } catch {
    return null;
  }
  if (bin.length % 4 !== 0) return null;
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return new Float32Array(bytes.buffer);
}

/** The file's text (JSON; weights base64). */
export function serialisePolicy(p: Policy): string {
  const { weights, ...rest } = p;
  return JSON.stringify({ ...rest, weights: weights.map((w) => ({ name: w.name, shape: w.shape, data: toBase64(w.data) })) });
}

export type Parsed<T> = { ok: true; value: T } | ({ ok: false } & Msg);

/** Why a policy file is refused (codes for the page's languages: see config.ts's CONFIG_MESSAGES). */
export const POLICY_MESSAGES = {
  'policy.notJson': 'it is not a policy file (not JSON)',
  'policy.noFormat': 'it is not a policy file (no "format": "{format}")',
  'policy.version': 'it is a policy file of version {version}; this app reads version {want}',
  'policy.task': 'its task description is missing or broken',
  'policy.noArch': 'its architecture is missing',
  'policy.kind': "its network kind '{kind}' is not one this app builds (mlp, gru, transformer)",
  'policy.size': "its architecture's {name} is not a whole number in [{lo}, {hi}]",
  'policy.moe': "its architecture's mixture of experts is broken",
  'policy.moeSize': "its mixture of experts' {name} is not a whole number in [{lo}, {hi}]",
  'policy.moeRouting': "its mixture of experts' routing is broken",
  'policy.gruMoe': 'a GRU has no mixture of experts',
  'policy.unfit': 'its architecture does not fit its own task (vocabulary or sequence length)',
  'policy.missing': 'its {name} is missing',
  'policy.noWeights': 'it has no weights',
  'policy.weightCount': 'it has {n} weight tensors where its architecture has {want}',
  'policy.weightShape': 'its weight {index} is not {name} of shape [{shape}]',
  'policy.weightValues': 'the values of its weight {name} are broken (want {size} numbers)',
  'policy.weightFinite': 'its weight {name} holds a value that is not a finite number',
  'policy.otherTask': 'it was trained on {title} ({key}); this experiment is {wantTitle} ({wantKey})',
  'policy.otherVocab': "its vocabulary ({n} tokens) is not this task's ({want} tokens)",
  'policy.otherLength': "its prompt or answer length is not this task's",
} as const satisfies Record<string, string>;
export const policyMsg = messenger(POLICY_MESSAGES);
const refuse = (code: keyof typeof POLICY_MESSAGES, params?: Record<string, string | number>) => ({ ok: false as const, ...policyMsg(code, params) });

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
const isInt = (x: unknown, lo: number, hi: number): x is number => typeof x === 'number' && Number.isInteger(x) && x >= lo && x <= hi;

/** Check a net spec from a file: the kinds and sizes the engine builds. */
function checkSpec(x: unknown): Msg | null {
  if (!isObj(x)) return policyMsg('policy.noArch');
  if (x.kind !== 'mlp' && x.kind !== 'gru' && x.kind !== 'transformer') return policyMsg('policy.kind', { kind: String(x.kind).slice(0, 20) });
  if (x.kind === 'transformer' && !isInt(x.heads, 1, 8)) return policyMsg('policy.size', { name: 'heads', lo: 1, hi: 8 });
  if (x.moe !== undefined) {
    const m = x.moe;
    if (!isObj(m)) return policyMsg('policy.moe');
    const moeSizes: [string, number, number][] = [['experts', 1, 64], ['topK', 1, 64], ['shared', 0, 16], ['expertHidden', 1, 1024]];
    for (const [k, lo, hi] of moeSizes) if (!isInt(m[k], lo, hi)) return policyMsg('policy.moeSize', { name: k, lo, hi });
    if ((m.topK as number) > (m.experts as number) || typeof m.balance !== 'number' || !(m.balance >= 0)) return policyMsg('policy.moeRouting');
    if (x.kind === 'gru') return policyMsg('policy.gruMoe');
  }
  const sizes: [string, number, number][] = [['vocab', 2, 64], ['maxLen', 2, 64], ['embed', 1, 512], ['hidden', 1, 1024], ['layers', 1, 8], ['window', 1, 64], ['outDim', 1, 64]];
  for (const [k, lo, hi] of sizes) if (!isInt(x[k], lo, hi)) return policyMsg('policy.size', { name: k, lo, hi });
  return null;
}

/**
 * Parse a policy file's text. Total: a file that is not JSON, not a policy, of another version, or
 * whose weights do not fit its architecture gets a message saying which.
 */
export function parsePolicy(text: string): Parsed<Policy> {
  let j: unknown;
  try {
    j = JSON.parse(text);
  } catch {
    return refuse('policy.notJson');
  }
  if (!isObj(j) || j.format !== POLICY_FORMAT) return refuse('policy.noFormat', { format: POLICY_FORMAT });
  if (j.version !== POLICY_VERSION) return refuse('policy.version', { version: String(j.version).slice(0, 10), want: POLICY_VERSION });
  const t = j.task;
  if (!isObj(t) || typeof t.key !== 'string' || !Array.isArray(t.vocab) || !t.vocab.every((v) => typeof v === 'string') || !isInt(t.promptLen, 1, 64) || !isInt(t.maxNew, 1, 64)) {
    return refuse('policy.task');
  }
  const specProblem = checkSpec(j.net);
  if (specProblem) return { ok: false, ...specProblem };
  const net = j.net as unknown as NetSpec;
  if (net.vocab !== t.vocab.length || net.outDim !== t.vocab.length || net.maxLen !== t.promptLen + t.maxNew) {
    return refuse('policy.unfit');
  }
  for (const k of ['run', 'seed', 'generation', 'step'] as const) if (!isInt(j[k], 0, 2 ** 31)) return refuse('policy.missing', { name: k });
  if (!Array.isArray(j.weights)) return refuse('policy.noWeights');
  // The architecture decides which weights there must be.
  const expected = weightLayout(net);
  const params = expected.reduce((n, w) => n + w.shape.reduce((a, b) => a * b, 1), 0);
  if (j.weights.length !== expected.length) return refuse('policy.weightCount', { n: j.weights.length, want: expected.length });
  const weights: Policy['weights'] = [];
  for (let i = 0; i < expected.length; i++) {
    const w = j.weights[i] as unknown;
    const e = expected[i];
    if (!isObj(w) || w.name !== e.name || !Array.isArray(w.shape) || w.shape.join(',') !== e.shape.join(',') || typeof w.data !== 'string') {
      return refuse('policy.weightShape', { index: i, name: e.name, shape: e.shape.join(', ') });
    }
    const data = fromBase64(w.data);
    const size = e.shape.reduce((a, b) => a * b, 1);
    if (!data || data.length !== size) return refuse('policy.weightValues', { name: e.name, size });
    if (!data.every(Number.isFinite)) return refuse('policy.weightFinite', { name: e.name });
    weights.push({ name: e.name, shape: e.shape, data });
  }
  return {
    ok: true,
    value: {
      format: POLICY_FORMAT,
      version: POLICY_VERSION,
      task: { key: t.key, title: typeof t.title === 'string' ? t.title.slice(0, 80) : t.key, vocab: t.vocab as string[], promptLen: t.promptLen as number, maxNew: t.maxNew as number },
      net: { kind: net.kind, vocab: net.vocab, maxLen: net.maxLen, embed: net.embed, hidden: net.hidden, layers: net.layers, window: net.window, outDim: net.outDim },
      params,
      link: typeof j.link === 'string' ? j.link.slice(0, 4000) : '',
      run: j.run as number,
      seed: j.seed as number,
      generation: j.generation as number,
      step: j.step as number,
      weights,
    },
  };
}

/** Whether a policy can be used on `task`: null if so, else what does not match (with its code). */
export function policyMismatchMsg(p: Policy, task: Task): Msg | null {
  const want = policyTaskOf(task);
  if (p.task.key !== want.key) return policyMsg('policy.otherTask', { title: p.task.title, key: p.task.key, wantTitle: want.title, wantKey: want.key });
  if (p.task.vocab.join('\u0001') !== want.vocab.join('\u0001')) return policyMsg('policy.otherVocab', { n: p.task.vocab.length, want: want.vocab.length });
  if (p.task.promptLen !== want.promptLen || p.task.maxNew !== want.maxNew) return policyMsg('policy.otherLength');
  return null;
}

/** Whether a policy can be used on `task`: null if so, else what does not match. */
export function policyMismatch(p: Policy, task: Task): string | null {
  return policyMismatchMsg(p, task)?.message ?? null;
}
