/**
 * Imported runs (src/core/imports.ts; the page's side in src/ui/series.ts): each format from its
 * fixture in test/fixtures/imports (see the README there), merging a sweep's seeds, bad files.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type ImportedRun, importable, mergeSeeds, parseCsv, parseImport } from '../src/core/imports';
import { presetById, presetConfig } from '../src/core/presets';
import { fitDomain, importPoints, importSeries, matchSeries, type ShownImport } from '../src/ui/series';

const dir = join(import.meta.dirname, 'fixtures/imports');
const text = (f: string) => readFileSync(join(dir, f), 'utf8');

function ok(name: string, body: string) {
  const r = parseImport(name, body);
  if (!r.ok) throw new Error(`${name}: ${r.message}`);
  return r;
}
function bad(name: string, body: string): string {
  const r = parseImport(name, body);
  if (r.ok) throw new Error(`${name} was read`);
  return r.message;
}
const shown = (run: ImportedRun, id = 'i1'): ShownImport => ({ id, run, color: '#000', points: importPoints(run) });

describe("TRL's trainer_state.json", () => {
  const state = JSON.parse(text('trainer_state.json'));
  const r = ok('trainer_state.json', text('trainer_state.json'));
  const run = r.runs[0];

  it('reads log_history: one row per step, train and eval logs of a step merged, every numeric key kept', () => {
    expect(r.runs).toHaveLength(1);
    expect(r.notes).toEqual([]);
    expect(run.format).toBe('trl');
    expect(run.label).toBe('trainer_state.json');
    const steps = [...new Set(state.log_history.map((e: { step: number }) => e.step))];
    expect(run.seeds[0].rows.map((x) => x.step)).toEqual(steps);
    const at100 = run.seeds[0].rows.find((x) => x.step === 100)!;
    const logs = state.log_history.filter((e: { step: number }) => e.step === 100);
    expect(logs.length).toBe(2); // the train log and the eval log
    expect(at100.frac_reward_zero_std).toBe(logs[0].frac_reward_zero_std);
    expect(at100.eval_reward).toBe(logs[1].eval_reward);
    // The final summary entry (train_runtime, ...) sits at the last step too.
    expect(run.seeds[0].rows.at(-1)!.train_runtime).toBe(state.log_history.at(-1).train_runtime);
    for (const k of ['reward', 'reward_std', 'frac_reward_zero_std', 'kl', 'clip_ratio/low_mean', 'completions/mean_length', 'rewards/accuracy_reward/mean', 'learning_rate', 'eval_loss']) {
      expect(run.metrics).toContain(k);
    }
    expect(run.maxStep).toBe(state.max_steps);
  });

  it('its num_tokens is the tokens axis; it plots beside live runs under the same metric names', () => {
    const first = run.seeds[0].rows[0];
    expect(first['cost/tokens']).toBe(first.num_tokens);
    const im = shown(run);
    const [s] = importSeries([im], 'frac_reward_zero_std', 'step');
    expect(s.points.map((p) => p.x)).toEqual(run.seeds[0].rows.map((x) => x.step));
    expect(s.points.map((p) => p.y)).toEqual(run.seeds[0].rows.map((x) => x.frac_reward_zero_std));
    expect(s.band).toBe(false);
    // No FLOPs in a TRL log: nothing drawn on that axis (rather than a wrong one).
    expect(importSeries([im], 'reward', 'cost/flops')[0].points).toEqual([]);
  });

  it('entries without a step are reported; a log with none is refused', () => {
    const doc = { ...state, log_history: [...state.log_history, { loss: 1 }, { train_runtime: 2 }, 7] };
    const r2 = ok('t.json', JSON.stringify(doc));
    expect(r2.notes).toEqual(['2 entries of its log_history had no step and were left out', '1 entry of its log_history was not an object and was left out']);
    expect(bad('t.json', JSON.stringify({ log_history: [{ loss: 1 }] }))).toBe('no entry of its log_history has a step');
    expect(bad('t.json', JSON.stringify({ log_history: [] }))).toBe('its log_history is empty');
    expect(bad('t.json', JSON.stringify({ log_history: 3 }))).toBe('its log_history is not a list');
  });
});

describe('a sweep folder', () => {
  const files = ['r1.lr=0.01__seed1.jsonl', 'r1.lr=0.01__seed2.jsonl'];
  const parsed = files.map((f) => ok(f, text(`sweep/${f}`)));

  it('one file per seed: its meta line names the combination; the rows are npm run sim --json', () => {
    const run = parsed[0].runs[0];
    expect(run.format).toBe('sweep');
    expect(run.label).toBe('r1.lr=0.01 r1 grpo');
    expect(run.seeds).toHaveLength(1);
    expect(run.seeds[0].seed).toBe(1);
    const lines = text(`sweep/${files[0]}`).trim().split('\n').slice(1).map((l) => JSON.parse(l));
    expect(run.seeds[0].rows).toEqual(lines);
    // Its budget comes from the link: 40 steps.
    expect(run.maxStep).toBe(40);
  });

  it("a combination's seeds merge into one run with a band (mean, min, max per step)", () => {
    const [run] = mergeSeeds(parsed.flatMap((p) => p.runs));
    expect(run.seeds.map((s) => s.seed)).toEqual([1, 2]);
    expect(run.files).toEqual(files);
    const [s] = importSeries([shown(run)], 'eval/accuracy', 'step');
    expect(s.band).toBe(true);
    const a = parsed[0].runs[0].seeds[0].rows;
    const b = parsed[1].runs[0].seeds[0].rows;
    s.points.forEach((p, i) => {
      expect(p.y).toBeCloseTo((a[i]['eval/accuracy'] + b[i]['eval/accuracy']) / 2, 12);
      expect(p.lo).toBe(Math.min(a[i]['eval/accuracy'], b[i]['eval/accuracy']));
      expect(p.hi).toBe(Math.max(a[i]['eval/accuracy'], b[i]['eval/accuracy']));
    });
    // The same seed twice (the file picked twice) counts once.
    expect(mergeSeeds([...parsed[0].runs, ...parsed[0].runs])[0].seeds).toHaveLength(1);
  });

  it("a folder's summary.csv is left out beside its run files, and refused alone with the reason; .partial files are left out", () => {
    const picked = importable([{ name: 'summary.csv' }, { name: files[0] }, { name: `${files[1]}.partial` }, { name: 'notes.txt' }, { name: '.DS_Store' }]);
    expect(picked.read.map((f) => f.name)).toEqual([files[0]]);
    expect(picked.skipped).toEqual(['1 unfinished sweep run (.partial) left out', 'summary.csv left out: the run files beside it carry the curves it summarises', '1 other file left out']);
    expect(bad('summary.csv', text('sweep/summary.csv'))).toMatch(/^it is a sweep's summary \(medians per combination, no curves\)/);
    // A single file of another kind is tried (and gets its own message).
    expect(importable([{ name: 'log.txt' }]).read).toHaveLength(1);
  });

  it('sim --json rows alone (no meta line) of a two-run link become two runs', () => {
    const body = ['{"run":1,"step":0,"reward":0.1}', '{"run":2,"step":0,"reward":0.2}', '{"run":1,"step":10,"reward":0.3}', '', 'not json', '{"run":2,"reward":1}'].join('\n');
    const r = ok('sim.jsonl', body);
    expect(r.runs.map((x) => [x.label, x.format, x.seeds[0].rows.map((y) => y.reward)])).toEqual([
      ['sim.jsonl r1', 'sim', [0.1, 0.3]],
      ['sim.jsonl r2', 'sim', [0.2]],
    ]);
    expect(r.notes).toEqual(['1 line (the first is line 5) is not JSON objects and was left out', '1 row had no step and was left out']);
  });
});

describe("the page's own exports", () => {
  const doc = JSON.parse(text('export.json'));

  it('Export JSON: one imported run per run, its seeds kept; the link gives each run its length', () => {
    const r = ok('export.json', text('export.json'));
    expect(r.notes).toEqual([]);
    expect(r.runs.map((x) => x.label)).toEqual(['export.json r1 grpo', 'export.json r2 ppo']);
    expect(r.runs[0].seeds.map((s) => s.seed)).toEqual(doc.runs[0].seeds.map((s: { seed: number }) => s.seed));
    expect(r.runs[0].seeds[0].rows).toEqual(doc.runs[0].seeds[0].rows);
    expect(r.runs.map((x) => x.maxStep)).toEqual([40, 40]);
    expect(r.runs[1].metrics).toContain('loss/value');
  });

  it('Export CSV: the same runs and numbers as the JSON export', () => {
    const r = ok('export.csv', text('export.csv'));
    expect(r.runs.map((x) => [x.label, x.format, x.seeds.map((s) => s.seed)])).toEqual([
      ['export.csv r1 grpo', 'export-csv', [1, 2]],
      ['export.csv r2 ppo', 'export-csv', [1]],
    ]);
    const fromJson = ok('export.json', text('export.json')).runs;
    r.runs.forEach((run, i) => run.seeds.forEach((s, k) => expect(s.rows).toEqual(fromJson[i].seeds[k].rows)));
  });
});

describe('any CSV with a step column', () => {
  it('keeps unknown columns (plottable), reports rows without a step and columns without numbers', () => {
    const body = 'Step,my/metric,note,"quoted, name"\n0,1.5,start,3\n10,2.5,,4\n,9,orphan,1\n20,"3.5",end,5\n';
    const r = ok('run.csv', body);
    const [run] = r.runs;
    expect(run.format).toBe('csv');
    expect(run.seeds[0].rows).toEqual([
      { step: 0, 'my/metric': 1.5, 'quoted, name': 3 },
      { step: 10, 'my/metric': 2.5, 'quoted, name': 4 },
      { step: 20, 'my/metric': 3.5, 'quoted, name': 5 },
    ]);
    expect(run.metrics).toEqual(['my/metric', 'quoted, name']);
    expect(r.notes).toEqual(['1 row had no Step and was left out', 'column note holds no numbers and cannot be plotted']);
    expect(importSeries([shown(run)], 'my/metric', 'step')[0].points.map((p) => p.y)).toEqual([1.5, 2.5, 3.5]);
  });

  it('W&B-style _step and global_step are step columns; quoted cells may hold commas, quotes and newlines', () => {
    expect(ok('w.csv', '_step,loss\n1,0.5\n').runs[0].seeds[0].rows).toEqual([{ step: 1, loss: 0.5 }]);
    expect(ok('g.csv', 'loss,global_step\n0.5,3\n').runs[0].seeds[0].rows).toEqual([{ step: 3, loss: 0.5 }]);
    expect(parseCsv('a,b\r\n"x, ""y""\nz",2\r\n')).toEqual([['a', 'b'], ['x, "y"\nz', '2']]);
  });
});

describe('bad files get a message, never an exception', () => {
  it.each([
    ['empty.json', '', 'it is empty'],
    ['blank.csv', '  \n \n', 'it is empty'],
    ['broken.json', '{"log_history": [', 'it is not valid JSON'],
    ['list.json', '[1, 2]', "it is JSON but neither TRL's trainer_state.json (an object with log_history) nor this page's export (an object with runs)"],
    ['other.json', '{"a": 1}', "it is JSON but neither TRL's trainer_state.json (an object with log_history) nor this page's export (an object with runs)"],
    ['policy.json', '{"format": "grpo-playground-policy", "weights": []}', "it is JSON but neither TRL's trainer_state.json (an object with log_history) nor this page's export (an object with runs)"],
    ['x.jsonl', 'hello', 'it is not valid JSON'],
    ['x.jsonl', '{"a":1}\n{"b":2}', 'none of its 2 rows has a step'],
    ['x.jsonl', '{oops\n{still oops', 'it is not valid JSON or JSON lines'],
    ['nostep.csv', 'a,b\n1,2\n', 'it has no step column (looked for step, global_step, trainer/global_step, train/global_step, _step, iteration, iter); its columns are a, b'],
    ['onecol.csv', 'step\n1\n', 'it is not a CSV: its first line has fewer than two columns'],
    ['words.csv', 'step,a\nx,1\ny,2\n', 'none of its 2 rows has a number in its step column'],
    ['head.csv', 'step,a\n', 'it is not a CSV with a header and rows'],
    ['bin.png', '\u0089PNG\r\n\u001a\n\u0000\u0000', 'it is not a text file'],
    ['export.json', '{"hash": "v=1", "runs": [{"id": "r1", "seeds": [{"seed": 1, "rows": []}]}]}', 'its runs have no rows'],
  ])('%s gets a message', (name, body, message) => {
    expect(bad(name, body)).toBe(message);
  });

  it('NaN and Infinity cells are not numbers: they are not plotted', () => {
    const r = ok('n.csv', 'step,a\n0,NaN\n1,Infinity\n2,1\n');
    expect(r.runs[0].seeds[0].rows).toEqual([{ step: 0 }, { step: 1 }, { step: 2, a: 1 }]);
  });
});

describe('matching an imported run against a live one', () => {
  const config = presetConfig(presetById('first-steps')!); // 600 steps
  const trl = ok('trainer_state.json', text('trainer_state.json')).runs[0]; // 200 steps
  const live = {
    points: [0, 300, 600].map((step) => ({ mean: { step, frac_reward_zero_std: step / 1000 }, lo: {}, hi: {}, n: 1 })),
  };

  it('on the fraction of training, both runs span 0 to 1; on steps, each keeps its own', () => {
    const [l, i] = matchSeries(shown(trl), 'frac_reward_zero_std', live, 0, config, 'frac_reward_zero_std', 'fraction');
    expect(l.points.map((p) => p.x)).toEqual([0, 0.5, 1]);
    expect(l.label).toBe('r1 grpo: frac_reward_zero_std');
    expect(i.points.at(-1)!.x).toBe(1);
    expect(i.points[0].x).toBe(10 / 200);
    const [ls, is] = matchSeries(shown(trl), 'frac_reward_zero_std', live, 0, config, 'frac_reward_zero_std', 'step');
    expect(ls.points.map((p) => p.x)).toEqual([0, 300, 600]);
    expect(is.points.at(-1)!.x).toBe(200);
  });

  it("a fixed [0, 1] range widens to fit an imported reward outside it", () => {
    const s = [{ id: 'i1', label: '', color: '', band: false, points: [{ x: 0, y: -0.5 }, { x: 1, y: 3 }] }];
    expect(fitDomain(s, [0, 1])).toEqual([-0.5, 3]);
    expect(fitDomain([], [0, 1])).toEqual([0, 1]);
  });
});
