/**
 * Low precision (src/core/quant.ts): each quantiser on a known vector (values worked out by hand
 * from the format's definition), its error bound on random matrices, idempotence, sizes; and the
 * session's eval@format / quantisation-aware training.
 */
import { describe, expect, it } from 'vitest';
import { bf16, e4m3, formatsOf, INT4_GROUP, modelBytes, quantiseAll, quantiseMatrix } from '../src/core/quant';
import { Rng } from '../src/core/rng';

const col = (xs: number[]) => Float32Array.from(xs); // a [n, 1] matrix: one output channel

describe('known vectors', () => {
  it('bf16 keeps 8 significant bits, rounding to nearest even', () => {
    expect(bf16(1)).toBe(1);
    expect(bf16(1 + 2 ** -8)).toBe(1); // a tie: to even (1.0000000)
    expect(bf16(1 + 3 * 2 ** -8)).toBe(1 + 2 ** -6); // a tie: to even (1.0000010)
    expect(bf16(1 + 2 ** -7)).toBe(1 + 2 ** -7); // representable
    expect(bf16(3.14159)).toBe(3.140625);
    expect(bf16(-0.1)).toBe(-0.10009765625);
  });

  it('E4M3: 3 mantissa bits, largest 448, subnormals in steps of 2^-9', () => {
    expect(e4m3(1)).toBe(1);
    expect(e4m3(1.0625)).toBe(1); // tie between 1 and 1.125: to even mantissa
    expect(e4m3(1.1)).toBe(1.125);
    expect(e4m3(300)).toBe(288);
    expect(e4m3(1000)).toBe(448);
    expect(e4m3(-0.3)).toBe(-0.3125);
    expect(e4m3(0.003)).toBe(2 * 2 ** -9); // 0.003 / 2^-9 = 1.536 -> 2
    expect(e4m3(2 ** -11)).toBe(0);
  });

  it('int8 per channel: scale max|w| / 127', () => {
    const q = quantiseMatrix('int8', col([1.27, -0.5, 0.004, 0.0051]), 4, 1);
    expect(Array.from(q, (x) => Math.round(x * 1e6) / 1e6)).toEqual([1.27, -0.5, 0, 0.01]);
  });

  it('int4 in groups: scale max|w| / 7 per group, stored as fp16', () => {
    const w = new Float32Array(40).fill(0);
    w[0] = 0.7;
    w[1] = 0.26; // 2.6 steps of 0.1 -> 3
    w[2] = -0.04; // -0.4 steps -> 0
    w[32] = 7; // the second group has its own scale (1)
    w[33] = 2.4;
    const q = quantiseMatrix('int4', w, 40, 1);
    const s1 = Math.round((0.1 / 2 ** -14) ) * 2 ** -14; // fp16 rounding of 0.1 (exponent -4: step 2^-14)
    expect(q[0]).toBeCloseTo(7 * s1, 7);
    expect(q[1]).toBeCloseTo(3 * s1, 7);
    expect(q[2]).toBe(0);
    expect(q[32]).toBe(7);
    expect(q[33]).toBe(2);
  });

  it('ternary per channel: {-1, 0, 1} x mean|w|', () => {
    const q = quantiseMatrix('ternary', col([0.9, -0.6, 0.1, 0.4]), 4, 1);
    const s = (0.9 + 0.6 + 0.1 + 0.4) / 4; // 0.5
    expect(Array.from(q)).toEqual([s, -s, 0, s].map(Math.fround));
  });
});

describe('every format on random weights', () => {
  const rng = new Rng(3);
  const rows = 70;
  const cols = 5;
  const w = Float32Array.from({ length: rows * cols }, () => rng.normal() * 0.3);
  const colMean = (c: number) => Array.from({ length: rows }, (_, r) => Math.abs(w[r * cols + c])).reduce((a, b) => a + b, 0) / rows;
  const colMax = (c: number, r0 = 0, r1 = rows) => Math.max(...Array.from({ length: r1 - r0 }, (_, r) => Math.abs(w[(r0 + r) * cols + c])));

  it('stays within its format error bound, and quantising twice changes nothing', () => {
    for (const f of ['bf16', 'fp8', 'int8', 'int4', 'ternary'] as const) {
      const q = quantiseMatrix(f, w, rows, cols);
      for (let r = 0; r < rows; r++) {
        for (let c = 0; c < cols; c++) {
          const x = w[r * cols + c];
          const err = Math.abs(q[r * cols + c] - x);
          const g0 = Math.floor(r / INT4_GROUP) * INT4_GROUP;
          const bound = {
            bf16: Math.abs(x) * 2 ** -8,
            fp8: Math.max(Math.abs(x) * 2 ** -4, (colMax(0, 0, rows) > 0 ? Math.max(...Array.from(w, Math.abs)) / 448 : 0) * 2 ** -10),
            int8: colMax(c) / 127 / 2,
            int4: (colMax(c, g0, Math.min(rows, g0 + INT4_GROUP)) / 7) * (0.5 + 1e-3),
            // 0, or +-s with s = the channel's mean |w|: off by at most s / 2, or by how far |x| exceeds s.
            ternary: Math.max(colMean(c) / 2, Math.abs(x) - colMean(c)) * (1 + 1e-6),
          }[f];
          expect(err, `${f} w=${x} q=${q[r * cols + c]}`).toBeLessThanOrEqual(bound + 1e-7);
        }
      }
      const again = quantiseMatrix(f, q, rows, cols);
      if (f !== 'ternary') expect(Array.from(again)).toEqual(Array.from(q)); // ternary's scale is a mean: it moves
    }
  });

  it('a net keeps its vectors (biases, gains) in float32; sizes count scales', () => {
    const shapes = [[rows, cols], [cols]];
    const flat = Float32Array.from([...w, 0.123456, -1, 2, 3, 4]);
    const q = quantiseAll('int4', shapes, flat);
    expect(Array.from(q.subarray(rows * cols))).toEqual(Array.from(flat.subarray(rows * cols)));
    expect(modelBytes('fp32', shapes)).toBe(4 * (rows * cols + cols));
    expect(modelBytes('bf16', shapes)).toBe(2 * rows * cols + 4 * cols);
    expect(modelBytes('fp8', shapes)).toBe(rows * cols + 4 + 4 * cols);
    expect(modelBytes('int8', shapes)).toBe(rows * cols + 4 * cols + 4 * cols);
    expect(modelBytes('int4', shapes)).toBe(rows * cols / 2 + 2 * cols * 3 + 4 * cols);
    expect(modelBytes('ternary', shapes)).toBe(Math.ceil((rows * cols * Math.log2(3)) / 8 + 4 * cols + 4 * cols));
    expect(formatsOf('int4,bf16,nope')).toEqual(['bf16', 'int4']);
  });
});

describe('low precision in runs', () => {
  it('eval@format at each eval point leaves the weights as they were; QAT keeps them on the int4 grid', async () => {
    const { Session } = await import('../src/core/session');
    const { decode } = await import('../src/core/config');
    const hash = 'v=1&task=sort&sortLen=3&blindSpot=none&steps=4&evalEvery=2&runs=grpo,grpo&r1.batch=32&r2.batch=32';
    const plain = new Session(decode(`${hash}&r1.quantEval=int8,ternary`).config);
    await plain.trainStep();
    const before = plain.policy.vars.map((v) => Array.from(v.dataSync()));
    const row = (await plain.evaluate()) as Record<string, number>;
    expect(plain.policy.vars.map((v) => Array.from(v.dataSync()))).toEqual(before);
    for (const k of ['eval/accuracy@int8', 'eval/accuracy@ternary', 'quant/bytes@fp32', 'quant/bytes@int8', 'quant/bytes@ternary']) expect(row[k]).toBeTypeOf('number');
    expect(row['quant/bytes@int8']).toBeLessThan(row['quant/bytes@fp32'] / 3);
    plain.dispose();

    const qat = new Session(decode(`${hash}&r2.qat=int4&r2.quantEval=int4`).config, 1);
    for (let i = 0; i < 2; i++) await qat.trainStep();
    const shapes = qat.policy.vars.map((v) => [...v.shape]);
    const flat = Float32Array.from(qat.policy.vars.flatMap((v) => Array.from(v.dataSync())));
    // The weights the policy runs with are already int4: rounding again changes nothing.
    expect(Array.from(quantiseAll('int4', shapes, flat))).toEqual(Array.from(flat));
    const r2 = (await qat.evaluate()) as Record<string, number>;
    expect(r2['eval/accuracy@int4']).toBe(r2['eval/accuracy']);
    qat.dispose();
  });
});
