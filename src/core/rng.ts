/**
 * Seeded pseudo-random numbers. Every random draw in the project (task sampling, weight
 * initialisation, action sampling, minibatch order) goes through an `Rng`, passed explicitly.
 *
 * Generator: sfc32 (Chris Doty-Humphrey's Small Fast Counting generator, 128-bit state, as in
 * PractRand), seeded through splitmix32 so that nearby seeds give unrelated streams. It is
 * plain 32-bit integer arithmetic, so a seed gives the same stream in every JS engine (normals
 * through math/libm's log, sin and cos, which are the same in every engine too).
 */
import { cos, log, sin } from './math/libm';

function splitmix32(a: number): () => number {
  return () => {
    a = (a + 0x9e3779b9) | 0;
    let z = a;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
}

/** 32-bit FNV-1a of a string, used to derive named child streams. */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** A stream's whole state (sfc32's four words and the cached normal draw), for checkpoints. */
export type RngState = [number, number, number, number, number | null];

export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  private spareNormal: number | null = null;

  constructor(seed: number) {
    const sm = splitmix32(seed >>> 0);
    this.a = sm();
    this.b = sm();
    this.c = sm();
    this.d = sm();
    for (let i = 0; i < 12; i++) this.nextUint32();
  }

  /** The stream's state: a stream given it with `setState` continues with the same draws. */
  state(): RngState {
    return [this.a, this.b, this.c, this.d, this.spareNormal];
  }

  setState(s: RngState): void {
    if (!Array.isArray(s) || s.length !== 5 || !s.slice(0, 4).every((x) => Number.isInteger(x)) || !(s[4] === null || Number.isFinite(s[4]))) throw new Error('not a random stream state');
    [this.a, this.b, this.c, this.d, this.spareNormal] = s;
  }

  /** A uniform 32-bit unsigned integer. */
  nextUint32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.nextUint32() / 4294967296;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Uniform integer in [lo, hi] (both included). */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  /** Standard normal (Box-Muller, caching the second draw). */
  normal(): number {
    if (this.spareNormal !== null) {
      const s = this.spareNormal;
      this.spareNormal = null;
      return s;
    }
    let u = 0;
    while (u === 0) u = this.next();
    const v = this.next();
    const r = Math.sqrt(-2 * log(u));
    this.spareNormal = r * sin(2 * Math.PI * v);
    return r * cos(2 * Math.PI * v);
  }

  /** Index drawn from unnormalised non-negative weights `w[off .. off+n)`. */
  categorical(w: ArrayLike<number>, off = 0, n = w.length - off): number {
    let total = 0;
    for (let i = 0; i < n; i++) total += w[off + i];
    let u = this.next() * total;
    for (let i = 0; i < n; i++) {
      u -= w[off + i];
      if (u < 0) return i;
    }
    // Rounding left a sliver: return the last index with non-zero weight.
    for (let i = n - 1; i >= 0; i--) if (w[off + i] > 0) return i;
    return n - 1;
  }

  /** A uniformly random element. */
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)];
  }

  /** Fisher-Yates shuffle in place; returns the array. */
  shuffle<T>(xs: T[]): T[] {
    for (let i = xs.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = xs[i];
      xs[i] = xs[j];
      xs[j] = t;
    }
    return xs;
  }

  /** A random permutation of 0..n-1. */
  permutation(n: number): number[] {
    return this.shuffle(Array.from({ length: n }, (_, i) => i));
  }

  /**
   * An independent child stream named `label`, derived from this stream's seed material without
   * advancing it. Streams with different labels do not interfere, so adding draws to one
   * (say, minibatch order) never shifts another (say, task sampling).
   */
  fork(label: string): Rng {
    return new Rng((this.a ^ Math.imul(hashString(label), 0x9e3779b1) ^ this.c) >>> 0);
  }
}
