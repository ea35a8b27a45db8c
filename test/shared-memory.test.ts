/**
 * workers/shared-memory.ts: a module's own memory turned into an imported shared one (the threads
 * bench runs tfjs-wasm and our kernels on it; scripts/bench/threads.ts).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { shareModuleMemory } from '../workers/shared-memory';

// A hand-assembled module: (memory 1) exported as "memory"; store(addr, v) and load(addr) on it.
const TINY = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
  0x01, 0x0b, 0x02, 0x60, 0x02, 0x7f, 0x7f, 0x00, 0x60, 0x01, 0x7f, 0x01, 0x7f, // types: (i32 i32) -> (), (i32) -> i32
  0x03, 0x03, 0x02, 0x00, 0x01, // two functions
  0x05, 0x03, 0x01, 0x00, 0x01, // memory: min 1 page
  0x07, 0x19, 0x03, 0x06, ...new TextEncoder().encode('memory'), 0x02, 0x00, 0x05, ...new TextEncoder().encode('store'), 0x00, 0x00, 0x04, ...new TextEncoder().encode('load'), 0x00, 0x01,
  0x0a, 0x13, 0x02, 0x09, 0x00, 0x20, 0x00, 0x20, 0x01, 0x36, 0x02, 0x00, 0x0b, 0x07, 0x00, 0x20, 0x00, 0x28, 0x02, 0x00, 0x0b,
]);

type Tiny = { memory: WebAssembly.Memory; store(a: number, v: number): void; load(a: number): number };

describe('shareModuleMemory', () => {
  it('turns the memory into a shared import that two instances use together', () => {
    const plain = new WebAssembly.Instance(new WebAssembly.Module(TINY)).exports as unknown as Tiny;
    plain.store(8, 42);
    expect(plain.load(8)).toBe(42);
    expect(plain.memory.buffer).not.toBeInstanceOf(SharedArrayBuffer);

    const { bytes, memory } = shareModuleMemory(TINY, 16);
    const mod = new WebAssembly.Module(bytes as BufferSource);
    expect(WebAssembly.Module.imports(mod)).toEqual([{ module: 'env', name: 'memory', kind: 'memory' }]);
    const a = new WebAssembly.Instance(mod, { env: { memory } }).exports as unknown as Tiny;
    const b = new WebAssembly.Instance(mod, { env: { memory } }).exports as unknown as Tiny;
    expect(a.memory).toBe(memory);
    expect(memory.buffer).toBeInstanceOf(SharedArrayBuffer);
    a.store(16, 7);
    expect(b.load(16)).toBe(7);
    expect(new Int32Array(memory.buffer)[4]).toBe(7);
    memory.grow(1); // up to its maximum
    expect(() => memory.grow(15)).toThrow();
  });

  it("rewrites tfjs-wasm's SIMD build: it validates, imports env.memory and still exports it", () => {
    const dist = join(dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist');
    const original = new Uint8Array(readFileSync(join(dist, 'tfjs-backend-wasm-simd.wasm')));
    const { bytes, memory } = shareModuleMemory(original);
    expect(WebAssembly.validate(bytes as BufferSource)).toBe(true);
    const mod = new WebAssembly.Module(bytes as BufferSource);
    const before = WebAssembly.Module.imports(new WebAssembly.Module(original as BufferSource));
    expect(WebAssembly.Module.imports(mod)).toEqual([...before, { module: 'env', name: 'memory', kind: 'memory' }]);
    expect(WebAssembly.Module.exports(mod)).toEqual(WebAssembly.Module.exports(new WebAssembly.Module(original as BufferSource)));
    expect(memory.buffer).toBeInstanceOf(SharedArrayBuffer);
  });

  it('refuses what it cannot rewrite', () => {
    expect(() => shareModuleMemory(new Uint8Array([1, 2, 3, 4, 1, 0, 0, 0]))).toThrow(/not a WebAssembly module/);
    const noMemory = new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);
    expect(() => shareModuleMemory(noMemory)).toThrow(/defines no memory/);
    expect(() => shareModuleMemory(TINY, 0)).toThrow(/more than 0/);
  });
});
