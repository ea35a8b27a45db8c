/**
 * Checkpoints: a run's (one seed's) complete state between two updates, so that it continues
 * exactly as if it had never stopped: the weights of the policy (and of its reference, its
 * teacher of the previous generation, PPO's critic), every optimiser's moments, every random
 * stream, the step, the stage and generation, the cost so far and the step metrics not yet
 * averaged into an eval row.
 *
 * One binary format for the CLI's files (`npm run sim -- --checkpoint DIR`) and the page's
 * IndexedDB, so both read each other's and both check the same way:
 *
 *   'GRPOCKPT' | u32 version | u32 header bytes | u32 checksum (FNV-1a of all that follows) |
 *   header (JSON, UTF-8) | zero padding to 8 bytes | blobs, each padded to 8 bytes
 *
 * The header is the state with every typed array replaced by {"$blob": i}; `blobs` in the header
 * gives each one's type, offset and length. A file that is not one, of another version, cut short
 * or changed by a single byte is refused with a CheckpointError naming why.
 */
import type { AlgoState, Cost } from './algos/common';
import { type Msg, messenger, type MsgParams } from './config';
import type { MetricRow } from './metrics';
import type { RngState } from './rng';

export const CHECKPOINT_VERSION = 1;
const MAGIC = 'GRPOCKPT';

/** A run's state between updates (`Session.saveState`, `Session.restoreState`). */
export interface SessionState {
  /** The experiment's link (`encode(config)`) when it was saved. */
  link: string;
  /** What the run's numbers depend on (`runIdentity`): a state resumes only a run of the same identity and seed. */
  identity: string;
  /** 0-based run and seed index of the experiment. */
  run: number;
  seed: number;
  /** Updates made. */
  step: number;
  /** Index into the run's schedule of the stage in progress (-1 before the first update). */
  stageIndex: number;
  trainSeconds: number;
  cost: Cost;
  /** Every named random stream of the run (task, sample, teacher, minibatch, init). */
  rng: Record<string, RngState>;
  /** Step metrics since the last eval row: [name, sum, count]. */
  averager: [string, number, number][];
  /** The policy's weights, flat in its variables' order (as the net holds them). */
  policy: Float32Array;
  /** Quantisation-aware training: the full-precision weights behind the rounded ones. */
  latent: Float32Array | null;
  /** Generation 2 on: the previous generation's policy, which teaches this one. */
  teacher: Float32Array | null;
  /** An RL stage's reference policy (the policy as the stage started). */
  ref: Float32Array | null;
  /** The stage's own state (optimisers, critic, data set); null before the first update. */
  algo: AlgoState | null;
}

/** What the page stores per run and seed: the state and the eval rows so far. */
export interface StoredRun {
  state: SessionState;
  rows: MetricRow[];
}

/** Why a checkpoint is refused (codes for the page's languages: see config.ts's CONFIG_MESSAGES). */
export const CHECKPOINT_MESSAGES = {
  'checkpoint.notCheckpoint': 'not a checkpoint',
  'checkpoint.version': 'a checkpoint of version {version}; this version reads version {want}',
  'checkpoint.cutShort': 'the checkpoint is cut short',
  'checkpoint.checksum': 'the checkpoint is damaged (its checksum does not match)',
  'checkpoint.header': "the checkpoint's header is not readable",
  'checkpoint.missingArray': 'the checkpoint is damaged (a missing array)',
  'checkpoint.notRun': 'the checkpoint does not hold a run',
} as const satisfies Record<string, string>;
export const checkpointMsg = messenger(CHECKPOINT_MESSAGES);

/** A checkpoint that cannot be used: `message` in English, `code` and `params` (when made from a Msg) for other languages. */
export class CheckpointError extends Error implements Msg {
  code?: string;
  params?: MsgParams;
  constructor(m: string | Msg) {
    super(typeof m === 'string' ? m : m.message);
    this.name = 'CheckpointError';
    if (typeof m !== 'string') {
      if (m.code !== undefined) this.code = m.code;
      if (m.params !== undefined) this.params = m.params;
    }
  }
}
const refused = (code: keyof typeof CHECKPOINT_MESSAGES, params?: MsgParams) => new CheckpointError(checkpointMsg(code, params));

type BlobType = 'f32' | 'f64' | 'i32' | 'u8';
const CTORS = { f32: Float32Array, f64: Float64Array, i32: Int32Array, u8: Uint8Array } as const;

function blobType(x: unknown): BlobType | null {
  if (x instanceof Float32Array) return 'f32';
  if (x instanceof Float64Array) return 'f64';
  if (x instanceof Int32Array) return 'i32';
  if (x instanceof Uint8Array) return 'u8';
  return null;
}

/** FNV-1a over bytes (32-bit). */
function fnv1a(bytes: Uint8Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) {
    h ^= bytes[i];
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

const pad8 = (n: number) => (n + 7) & ~7;

/** Any JSON-like value holding typed arrays, as bytes (see the format above). */
export function encodeCheckpoint(value: unknown): Uint8Array {
  const blobs: { type: BlobType; data: ArrayBufferView & { length: number } }[] = [];
  const json = JSON.stringify(value, function (this: unknown, key: string, v: unknown) {
    // JSON.stringify hands typed arrays to the replacer as they are (no toJSON).
    const t = blobType(v);
    if (!t) return v;
    blobs.push({ type: t, data: v as Float32Array });
    return { $blob: blobs.length - 1 };
  });
  const layout: { type: BlobType; offset: number; length: number }[] = [];
  let off = 0;
  for (const b of blobs) {
    layout.push({ type: b.type, offset: off, length: b.data.length });
    off = pad8(off + b.data.byteLength);
  }
  const header = new TextEncoder().encode(`{"value":${json},"blobs":${JSON.stringify(layout)}}`);
  const start = pad8(20 + header.length);
  const out = new Uint8Array(start + off);
  out.set(new TextEncoder().encode(MAGIC), 0);
  const view = new DataView(out.buffer);
  view.setUint32(8, CHECKPOINT_VERSION, true);
  view.setUint32(12, header.length, true);
  out.set(header, 20);
  blobs.forEach((b, i) => out.set(new Uint8Array(b.data.buffer, b.data.byteOffset, b.data.byteLength), start + layout[i].offset));
  view.setUint32(16, fnv1a(out.subarray(20)), true);
  return out;
}

/** Bytes back to the value `encodeCheckpoint` was given; throws a CheckpointError saying what is wrong. */
export function decodeCheckpoint(bytes: Uint8Array): unknown {
  if (!(bytes instanceof Uint8Array) || bytes.length < 20 || new TextDecoder().decode(bytes.subarray(0, 8)) !== MAGIC) throw refused('checkpoint.notCheckpoint');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint32(8, true);
  if (version !== CHECKPOINT_VERSION) throw refused('checkpoint.version', { version, want: CHECKPOINT_VERSION });
  const headerLen = view.getUint32(12, true);
  if (20 + headerLen > bytes.length) throw refused('checkpoint.cutShort');
  if (fnv1a(bytes.subarray(20)) !== view.getUint32(16, true)) throw refused('checkpoint.checksum');
  let parsed: { value: unknown; blobs: { type: BlobType; offset: number; length: number }[] };
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(20, 20 + headerLen)));
  } catch {
    throw refused('checkpoint.header');
  }
  const start = pad8(20 + headerLen);
  const arrays = (parsed.blobs ?? []).map((b) => {
    const C = CTORS[b.type];
    const end = start + b.offset + b.length * (C?.BYTES_PER_ELEMENT ?? 0);
    if (!C || !Number.isInteger(b.offset) || !Number.isInteger(b.length) || b.offset < 0 || b.length < 0 || end > bytes.length) throw refused('checkpoint.cutShort');
    // A copy: aligned, and independent of the bytes it came from.
    return new C(bytes.slice(start + b.offset, end).buffer);
  });
  const revive = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(revive);
    if (v && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      if (typeof o.$blob === 'number' && Object.keys(o).length === 1) {
        const a = arrays[o.$blob];
        if (!a) throw refused('checkpoint.missingArray');
        return a;
      }
      return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, revive(x)]));
    }
    return v;
  };
  return revive(parsed.value);
}

/** A run's state as bytes. */
export function encodeState(state: SessionState): Uint8Array {
  return encodeCheckpoint(state);
}

/** Bytes back to a run's state, with its shape checked (the weights' sizes are checked on restore). */
export function decodeState(bytes: Uint8Array): SessionState {
  const s = decodeCheckpoint(bytes) as SessionState;
  const ok =
    s && typeof s === 'object' && typeof s.link === 'string' && typeof s.identity === 'string' && Number.isInteger(s.run) && Number.isInteger(s.seed) && Number.isInteger(s.step) && s.step >= 0 &&
    Number.isInteger(s.stageIndex) && s.policy instanceof Float32Array && s.rng && typeof s.rng === 'object' && Array.isArray(s.averager) && s.cost && typeof s.cost === 'object';
  if (!ok) throw refused('checkpoint.notRun');
  return s;
}
