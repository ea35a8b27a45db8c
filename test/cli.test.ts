/** The two command-line contracts: `npm run sim` (determinism, JSON lines, exit 2 on bad input). */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

  it('--save-policy writes r1\'s policy; --teacher-policy and --init-policy use it; bad files exit 2 naming the mismatch', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sim-policy-'));
    const file = join(dir, 'student.json');
    const saved = await sim(['v=1&runs=sft&steps=20&evalEvery=20&r1.batch=64', '--json', '--save-policy', file]);
    expect(saved.code, saved.stderr).toBe(0);
    const p = JSON.parse(readFileSync(file, 'utf8'));
    expect(p).toMatchObject({ format: 'grpo-playground-policy', version: 1, run: 1, seed: 1, step: 20, link: 'v=1&steps=20&evalEvery=20&runs=sft&r1.batch=64' });
    expect(p.task.key).toBe('add/2');
    const taught = await sim(['v=1&runs=kd&steps=4&evalEvery=4&r1.batch=32', '--teacher-policy', file]);
    expect(taught.code, taught.stderr).toBe(0);
    expect(taught.stdout).toMatch(/teacher student\.json/);
    expect(taught.stdout).toMatch(/#v=1&steps=4&evalEvery=4&runs=kd&r1\.batch=32&r1\.teacher=file&r1\.teacherFile=student\.json~[0-9a-f]{8}/);
    const started = await sim(['v=1&runs=grpo&steps=2&evalEvery=2&r1.batch=32', '--init-policy', file, '--json']);
    expect(started.code, started.stderr).toBe(0);
    // Starting from the saved policy, step 0 is that policy's accuracy, not a random net's.
    const savedRows = saved.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(JSON.parse(started.stdout.split('\n')[0])['eval/accuracy']).toBe(savedRows.at(-1)['eval/accuracy']);
    // Another task: exit 2, naming both.
    const wrong = await sim(['v=1&task=sort&sortLen=3&blindSpot=none&runs=sft&steps=2', '--teacher-policy', file]);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toMatch(/trained on 2-digit addition \(add\/2\); this experiment is sorting 3 digits \(sort\/3\)/);
    // Not a policy at all.
    const junk = join(dir, 'junk.json');
    writeFileSync(junk, '{"weights": []}');
    const notPolicy = await sim(['v=1&runs=sft&steps=2', '--init-policy', junk]);
    expect(notPolicy.code).toBe(2);
    expect(notPolicy.stderr).toMatch(/junk\.json: it is not a policy file/);
    // A link that names a file the command line does not give.
    const missing = await sim(['v=1&runs=sft&steps=2&r1.teacher=file&r1.teacherFile=student.json~0123abcd']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/r1 learns from the policy file 'student\.json'.*--teacher-policy/);
  });

  it('runs that learn from runs train after them', async () => {
    const r = await sim(['v=1&runs=sft,sft&r1.teacher=r2&steps=4&evalEvery=4&r1.batch=32&r2.batch=32', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const rows = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(rows.map((x) => [x.run, x.step])).toEqual([[2, 0], [2, 4], [1, 0], [1, 4]]);
    expect(rows[2]['teacher/ceiling']).toBe(rows[1]['eval/accuracy']);
  });

  it('--checkpoint, --stop-after, --resume: the two parts\' lines are those of an uninterrupted run, across runs and seeds', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sim-ckpt-'));
    const ck = join(dir, 'ck');
    // r2 learns from r1 (two seeds each); the stop falls inside r1's second seed, between eval points.
    const hash = 'v=1&task=sort&sortLen=3&blindSpot=none&steps=20&evalEvery=5&runs=grpo,sft&r1.batch=32&r1.G=4&r2.batch=32&r2.teacher=r1&r1.seeds=2&r2.seeds=2';
    const whole = await sim([hash, '--json']);
    expect(whole.code, whole.stderr).toBe(0);
    const first = await sim([hash, '--json', '--checkpoint', ck, '--stop-after', '27']);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toMatch(/stopped after 27 updates; continue with the same command and --resume/);
    expect(readdirSync(ck).sort()).toEqual(['r1-s0.ckpt', 'r1-s1.ckpt']); // no .partial left behind
    const firstRows = first.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(firstRows.at(-1)).toMatchObject({ run: 1, seed: 2, step: 5 }); // the last eval point before update 27
    const second = await sim([hash, '--json', '--checkpoint', ck, '--resume']);
    expect(second.code, second.stderr).toBe(0);
    expect([...first.stdout.trim().split('\n'), ...second.stdout.trim().split('\n')].map(dropTime)).toEqual(whole.stdout.trim().split('\n').map(dropTime));
    expect(readdirSync(ck).sort()).toEqual(['r1-s0.ckpt', 'r1-s1.ckpt', 'r2-s0.ckpt', 'r2-s1.ckpt']);
    // Resuming a finished experiment prints nothing more; the table says where each run resumed.
    const again = await sim([hash, '--checkpoint', ck, '--resume']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/# run 1 grpo seed 1 \(resumed at step 20\)/);
    expect(again.stdout).not.toMatch(/^\d/m);

    // Refused with exit 2, naming the file and why: another experiment, a damaged file, no checkpoints, no folder.
    const other = await sim([hash.replace('steps=20', 'steps=30'), '--checkpoint', ck, '--resume']);
    expect(other.code).toBe(2);
    expect(other.stderr).toMatch(/r1-s0\.ckpt: a checkpoint of another experiment/);
    const file = join(ck, 'r1-s1.ckpt');
    const bytes = readFileSync(file);
    bytes[bytes.length - 10] ^= 0xff;
    writeFileSync(file, bytes);
    const damaged = await sim([hash, '--checkpoint', ck, '--resume']);
    expect(damaged.code).toBe(2);
    expect(damaged.stderr).toMatch(/r1-s1\.ckpt: the checkpoint is damaged/);
    const none = await sim([hash, '--checkpoint', join(dir, 'empty'), '--resume']);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/no checkpoints in/);
    expect(existsSync(join(dir, 'empty'))).toBe(false);
    for (const args of [['--resume'], ['--stop-after', 'x'], ['--checkpoint']]) expect((await sim([hash, ...args])).code, args.join(' ')).toBe(2);
  });
});
