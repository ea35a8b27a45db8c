/** The two command-line contracts: `npm run sim` (determinism, JSON lines, exit 2 on bad input). */
import { execFile } from 'node:child_process';
import { describe, expect, it } from 'vitest';

function sim(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('npx', ['tsx', 'scripts/sim.ts', ...args], { cwd: process.cwd(), timeout: 120_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

const dropTime = (line: string) => {
  const o = JSON.parse(line);
  delete o['time/seconds'];
  return JSON.stringify(o);
};

describe('npm run sim', () => {
  it('same arguments, byte-identical JSON lines apart from time/seconds', async () => {
    const args = ['--preset', 'first-steps', '--steps', '30', '--eval-every', '10', '--json'];
    const [a, b] = [await sim(args), await sim(args)];
    expect(a.code).toBe(0);
    const la = a.stdout.trim().split('\n');
    const lb = b.stdout.trim().split('\n');
    expect(la).toHaveLength(4); // steps 0, 10, 20, 30
    expect(lb.map(dropTime)).toEqual(la.map(dropTime));
    const last = JSON.parse(la[3]);
    expect(last.step).toBe(30);
    expect(last).not.toHaveProperty('run');
    for (const k of ['reward', 'eval/accuracy', 'cost/flops', 'time/seconds', 'frac_reward_zero_std']) expect(last).toHaveProperty(k);
    const other = await sim(['--preset', 'first-steps', '--steps', '30', '--eval-every', '10', '--json', '--seed', '2']);
    expect(other.stdout.trim().split('\n').map(dropTime)).not.toEqual(la.map(dropTime));
  });

  it('a HASH with several runs labels each line with its run', async () => {
    const r = await sim(['v=1&task=sort&sortLen=3&blindSpot=none&runs=grpo,sft&steps=4&evalEvery=2', '--json']);
    expect(r.code).toBe(0);
    const rows = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(rows.map((x) => [x.run, x.step])).toEqual([[1, 0], [1, 2], [1, 4], [2, 0], [2, 2], [2, 4]]);
  });

  it('a bad HASH exits 2 and names each bad key and value', async () => {
    const r = await sim(['#v=1&digits=7&r1.lr=abc&bogus=1', '--json']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('digits=7');
    expect(r.stderr).toContain('r1.lr=abc');
    expect(r.stderr).toContain('bogus=1');
  });

  it('bad flags exit 2', async () => {
    for (const args of [['--steps', '-3'], ['--preset', 'nope'], ['--frobnicate'], ['--seed']]) {
      const r = await sim(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr.length).toBeGreaterThan(0);
    }
  });
});
