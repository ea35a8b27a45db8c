/**
 * The sweep group: the same sweep (2 settings x 3 seeds of `first-steps`) with --jobs 1 and with
 * --jobs 2, wall-clock seconds each. The issue's target: --jobs 2 takes at most 60% of --jobs 1's
 * time on a 2-core machine.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Figures, fmtNum, log, ROOT, round, table } from './common';

export async function sweepGroup(): Promise<{ figures: Figures; text: string }> {
  const seconds: Record<number, number> = {};
  for (const jobs of [1, 2]) {
    const dir = mkdtempSync(join(tmpdir(), 'bench-sweep-'));
    log(`sweep: first-steps, r1.lr=0.002,0.003 x seeds 1-3, --jobs ${jobs}`);
    const t0 = performance.now();
    execFileSync(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts/sweep.ts'), '--preset', 'first-steps', '--grid', 'r1.lr=0.002,0.003', '--seeds', '1-3', '--jobs', String(jobs), '--out', join(dir, 'out')], { cwd: ROOT, stdio: 'ignore' });
    seconds[jobs] = (performance.now() - t0) / 1000;
    rmSync(dir, { recursive: true, force: true });
  }
  const ratio = seconds[2] / seconds[1];
  const figures: Figures = { 'sweep.jobs1.seconds': round(seconds[1], 1), 'sweep.jobs2.seconds': round(seconds[2], 1), 'sweep.ratio_jobs2_to_jobs1': round(ratio, 3) };
  return {
    figures,
    text: table('sweep (2 settings x 3 seeds of first-steps, 600 steps each)', [
      { figure: 'sweep.jobs1.seconds', value: fmtNum(seconds[1], 1) },
      { figure: 'sweep.jobs2.seconds', value: fmtNum(seconds[2], 1) },
      { figure: 'sweep.ratio_jobs2_to_jobs1', value: fmtNum(ratio, 2), target: '<= 0.60', ok: ratio <= 0.6 },
    ]),
  };
}
