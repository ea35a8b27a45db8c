/**
 * Runs that were not trained here, read from files so they can be drawn beside live runs: a sweep's
 * (or `npm run sim -- --json`'s) JSONL, the page's own JSON or CSV export, TRL's
 * `trainer_state.json` (its `log_history`, whose metric names this project follows) and any CSV
 * with a step column. Pure and total: a file comes back as runs plus notes (rows without a step,
 * columns that are not numbers), or as one message saying why it could not be read. Nothing here
 * throws, and nothing becomes HTML.
 */
import { decode, pipelineId, runSteps } from './config';

/** One logged point: every numeric value of a row, `step` always among them. */
export type ImportRow = Record<string, number>;

export type ImportFormat = 'sweep' | 'sim' | 'export' | 'export-csv' | 'trl' | 'csv';

export const FORMAT_NAMES: Record<ImportFormat, string> = {
  sweep: 'sweep run (JSONL)',
  sim: 'npm run sim --json (JSONL)',
  export: "this page's JSON export",
  'export-csv': "this page's CSV export",
  trl: 'TRL trainer_state.json',
  csv: 'CSV',
};

export interface ImportedRun {
  /** What the legend calls it, e.g. 'trainer_state.json' or 'r1.lr=0.001'. */
  label: string;
  /** The file(s) it came from. */
  files: string[];
  format: ImportFormat;
  /** One series of rows per seed (one row per step, by step), seed null where the file names none. */
  seeds: { seed: number | null; rows: ImportRow[] }[];
  /** Its training length in steps, for an x-axis in fractions of training (TRL's max_steps, the link's budget, or the last step). */
  maxStep: number;
  /** Numeric metrics it has besides the step, in first-seen order. */
  metrics: string[];
  /** Sweep files of one combination (and one run of its link) merge into one run with several seeds. */
  groupKey?: string;
}

export type ImportResult = { ok: true; runs: ImportedRun[]; notes: string[] } | { ok: false; message: string };

/** Larger files are refused (a TRL log of 100k steps is a few MB). */
export const MAX_IMPORT_BYTES = 64 * 1024 * 1024;

/** Columns a CSV may call its step, in order of preference (W&B exports use `_step` or `Step`). */
export const STEP_COLUMNS = ['step', 'global_step', 'trainer/global_step', 'train/global_step', '_step', 'iteration', 'iter'];

const fail = (message: string): ImportResult => ({ ok: false, message });
const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;
const clip = (s: string, n = 60) => (s.length > n ? s.slice(0, n) + '…' : s);

/** The numeric values of a parsed object (numbers, and strings that are numbers). */
function numericRow(o: Record<string, unknown>, skip: Set<string> = new Set()): ImportRow {
  const out: ImportRow = {};
  for (const [k, v] of Object.entries(o)) {
    if (skip.has(k)) continue;
    const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
    if (Number.isFinite(n)) out[k] = n;
  }
  return out;
}

/** Rows by step: rows logged at the same step merge (a TRL train log and its eval log), later values win. */
function byStep(rows: ImportRow[]): ImportRow[] {
  const at = new Map<number, ImportRow>();
  for (const r of rows) at.set(r.step, { ...(at.get(r.step) ?? {}), ...r });
  return [...at.values()].sort((a, b) => a.step - b.step);
}

function metricsOf(seeds: { rows: ImportRow[] }[]): string[] {
  const seen = new Set<string>();
  for (const s of seeds) for (const r of s.rows) for (const k of Object.keys(r)) if (k !== 'step') seen.add(k);
  return [...seen];
}

const lastStep = (seeds: { rows: ImportRow[] }[]) => Math.max(0, ...seeds.flatMap((s) => s.rows.map((r) => r.step)));

function run(label: string, file: string, format: ImportFormat, seeds: { seed: number | null; rows: ImportRow[] }[], maxStep?: number, groupKey?: string): ImportedRun {
  const sorted = seeds.map((s) => ({ seed: s.seed, rows: byStep(s.rows) }));
  const last = lastStep(sorted);
  return { label, files: [file], format, seeds: sorted, maxStep: maxStep && maxStep >= last ? maxStep : Math.max(1, last), metrics: metricsOf(sorted), groupKey };
}

/** The steps a link's run trains (its budget), or undefined if the link does not decode cleanly. */
function budgetOf(link: unknown, runIndex: number): number | undefined {
  if (typeof link !== 'string') return undefined;
  const d = decode(link.replace(/^#/, ''));
  const r = d.config.runs[runIndex];
  return r ? runSteps(d.config, r) : undefined;
}

/**
 * Read one file. `name` is only used in labels and messages. A TRL log or the page's export is
 * JSON; a sweep or sim file is JSON lines; anything else is tried as CSV.
 */
export function parseImport(name: string, text: string): ImportResult {
  if (text.length > MAX_IMPORT_BYTES) return fail(`it is larger than ${MAX_IMPORT_BYTES / 1024 / 1024} MB`);
  if (text.includes('\u0000')) return fail('it is not a text file');
  const body = text.replace(/^\uFEFF/, '').trim();
  if (!body) return fail('it is empty');
  if (body.startsWith('{') || body.startsWith('[')) {
    let whole: unknown;
    let isJson = true;
    try {
      whole = JSON.parse(body);
    } catch {
      isJson = false;
    }
    if (isJson) return fromJson(name, whole);
    if (body.startsWith('{') && !/\.json$/i.test(name)) return fromJsonLines(name, body);
    return fail('it is not valid JSON');
  }
  if (/\.jsonl?$/i.test(name)) return fail('it is not valid JSON');
  return fromCsv(name, body);
}

function fromJson(name: string, doc: unknown): ImportResult {
  if (!isRecord(doc)) return fail("it is JSON but neither TRL's trainer_state.json (an object with log_history) nor this page's export (an object with runs)");
  if ('log_history' in doc) return fromTrl(name, doc);
  if (Array.isArray(doc.runs) && ('hash' in doc || 'config' in doc)) return fromExport(name, doc);
  // One JSON line of a sweep/sim file is also a JSON document.
  if ('sweep' in doc || 'step' in doc) return fromJsonLines(name, JSON.stringify(doc));
  return fail("it is JSON but neither TRL's trainer_state.json (an object with log_history) nor this page's export (an object with runs)");
}

/** TRL / transformers Trainer state: `log_history` is a list of dicts, each with `step`. */
function fromTrl(name: string, doc: Record<string, unknown>): ImportResult {
  const history = doc.log_history;
  if (!Array.isArray(history)) return fail('its log_history is not a list');
  const rows: ImportRow[] = [];
  let noStep = 0;
  let notObject = 0;
  for (const e of history) {
    if (!isRecord(e)) {
      notObject++;
      continue;
    }
    const r = numericRow(e);
    if (r.step === undefined) {
      noStep++;
      continue;
    }
    // TRL counts the tokens it has processed: that is the tokens axis here.
    if (r.num_tokens !== undefined && r['cost/tokens'] === undefined) r['cost/tokens'] = r.num_tokens;
    rows.push(r);
  }
  if (!rows.length) return fail(history.length ? 'no entry of its log_history has a step' : 'its log_history is empty');
  const notes: string[] = [];
  if (noStep) notes.push(`${plural(noStep, 'entry', 'entries')} of its log_history had no step and ${noStep === 1 ? 'was' : 'were'} left out`);
  if (notObject) notes.push(`${plural(notObject, 'entry', 'entries')} of its log_history ${notObject === 1 ? 'was not an object' : 'were not objects'} and ${notObject === 1 ? 'was' : 'were'} left out`);
  const max = typeof doc.max_steps === 'number' && doc.max_steps > 0 ? doc.max_steps : typeof doc.global_step === 'number' ? doc.global_step : undefined;
  return { ok: true, runs: [run(name, name, 'trl', [{ seed: null, rows }], max)], notes };
}

/** The page's Export JSON: { link, hash, config, runs: [{ id, pipeline, seeds: [{ seed, rows }] }] }. */
function fromExport(name: string, doc: Record<string, unknown>): ImportResult {
  const runs: ImportedRun[] = [];
  const notes: string[] = [];
  let noStep = 0;
  (doc.runs as unknown[]).forEach((r, i) => {
    if (!isRecord(r) || !Array.isArray(r.seeds)) {
      notes.push(`its run ${i + 1} has no seeds and was left out`);
      return;
    }
    const seeds = (r.seeds as unknown[]).flatMap((s) => {
      if (!isRecord(s) || !Array.isArray(s.rows)) return [];
      const rows = (s.rows as unknown[]).flatMap((row) => {
        const n = isRecord(row) ? numericRow(row) : {};
        if (n.step === undefined) return (noStep++, []);
        return [n];
      });
      return [{ seed: typeof s.seed === 'number' ? s.seed : null, rows }];
    });
    if (!seeds.some((s) => s.rows.length)) {
      notes.push(`its run ${typeof r.id === 'string' ? r.id : i + 1} has no rows and was left out`);
      return;
    }
    const id = typeof r.id === 'string' ? r.id : `r${i + 1}`;
    const label = `${name} ${id}${typeof r.pipeline === 'string' ? ` ${r.pipeline}` : ''}`;
    runs.push(run(label, name, 'export', seeds, budgetOf(doc.hash, i)));
  });
  if (noStep) notes.push(`${plural(noStep, 'row')} had no step and ${noStep === 1 ? 'was' : 'were'} left out`);
  if (!runs.length) return fail('its runs have no rows');
  return { ok: true, runs, notes };
}

/**
 * JSON lines: a sweep file (a meta line { sweep: { link, seed, combination } }, then `npm run sim
 * -- --json`'s rows) or sim's rows alone. Rows of a multi-run link carry `run`, of several seeds `seed`.
 */
function fromJsonLines(name: string, body: string): ImportResult {
  const lines = body.split(/\r?\n/);
  let meta: { link?: unknown; seed?: unknown; combination?: unknown } | null = null;
  const groups = new Map<number, Map<number | null, ImportRow[]>>();
  let noStep = 0;
  let bad = 0;
  let firstBad = 0;
  lines.forEach((line, i) => {
    if (!line.trim()) return;
    let o: unknown;
    try {
      o = JSON.parse(line);
    } catch {
      if (!bad) firstBad = i + 1;
      bad++;
      return;
    }
    if (!isRecord(o)) {
      if (!bad) firstBad = i + 1;
      bad++;
      return;
    }
    if (isRecord(o.sweep) && !meta) {
      meta = o.sweep;
      return;
    }
    const r = numericRow(o, new Set(['run', 'seed']));
    if (r.step === undefined) {
      noStep++;
      return;
    }
    const runNo = typeof o.run === 'number' ? o.run : 1;
    const seed = typeof o.seed === 'number' ? o.seed : typeof meta?.seed === 'number' ? meta.seed : null;
    const g = groups.get(runNo) ?? new Map<number | null, ImportRow[]>();
    groups.set(runNo, g);
    const rows = g.get(seed) ?? [];
    g.set(seed, rows);
    rows.push(r);
  });
  if (!groups.size) {
    if (bad && bad === lines.filter((l) => l.trim()).length) return fail('it is not valid JSON or JSON lines');
    return fail(noStep ? `none of its ${plural(noStep, 'row')} has a step` : 'it has no rows');
  }
  const notes: string[] = [];
  if (bad) notes.push(`${plural(bad, 'line')} (the first is line ${firstBad}) ${bad === 1 ? 'is' : 'are'} not JSON objects and ${bad === 1 ? 'was' : 'were'} left out`);
  if (noStep) notes.push(`${plural(noStep, 'row')} had no step and ${noStep === 1 ? 'was' : 'were'} left out`);
  const m = meta as { link?: unknown; seed?: unknown; combination?: unknown } | null;
  const combo = Array.isArray(m?.combination) ? (m.combination as unknown[]).filter((p): p is [string, string] => Array.isArray(p) && p.length === 2).map(([k, v]) => `${k}=${v}`).join(' ') : '';
  const link = typeof m?.link === 'string' ? m.link : '';
  const multi = groups.size > 1;
  const runs = [...groups.entries()].map(([runNo, seeds]) => {
    let pipeline = '';
    if (link) {
      const d = decode(link.replace(/^#/, ''));
      const r = d.config.runs[runNo - 1];
      if (r) pipeline = pipelineId(r.stages);
    }
    const who = multi || pipeline ? ` r${runNo}${pipeline ? ` ${pipeline}` : ''}` : '';
    const label = m ? `${combo || 'sweep'}${who}` : `${name}${multi ? ` r${runNo}` : ''}`;
    const seedList = [...seeds.entries()].map(([seed, rows]) => ({ seed, rows }));
    return run(label, name, m ? 'sweep' : 'sim', seedList, budgetOf(link, runNo - 1), m ? `${link}|${runNo}` : undefined);
  });
  return { ok: true, runs, notes };
}

/** RFC 4180 CSV: quoted cells may hold commas, quotes ("") and newlines. */
export function parseCsv(text: string): string[][] {
  const out: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"') {
        if (text[i + 1] === '"') (cell += '"'), i++;
        else quoted = false;
      } else cell += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') (row.push(cell), (cell = ''));
    else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[i + 1] === '\n') i++;
      row.push(cell);
      out.push(row);
      (row = []), (cell = '');
    } else cell += ch;
  }
  if (cell !== '' || row.length) (row.push(cell), out.push(row));
  return out.filter((r) => r.some((c) => c.trim() !== ''));
}

function fromCsv(name: string, body: string): ImportResult {
  const table = parseCsv(body);
  if (table.length < 2) return fail('it is not a CSV with a header and rows');
  const head = table[0].map((h) => h.trim());
  if (head.length < 2) return fail('it is not a CSV: its first line has fewer than two columns');
  if (head.includes('seeds') && head.some((h) => h.endsWith('/median'))) {
    return fail("it is a sweep's summary (medians per combination, no curves): import the sweep's .jsonl run files instead");
  }
  const lower = head.map((h) => h.toLowerCase());
  const stepAt = STEP_COLUMNS.map((c) => lower.indexOf(c)).find((i) => i >= 0);
  if (stepAt === undefined) return fail(`it has no step column (looked for ${STEP_COLUMNS.join(', ')}); its columns are ${clip(head.join(', '), 120)}`);
  // The page's own CSV export: run, pipeline, seed, then the metrics.
  const own = head[0] === 'run' && head[1] === 'pipeline' && head[2] === 'seed';
  const groups = new Map<string, { pipeline: string; seeds: Map<number | null, ImportRow[]> }>();
  const numeric = new Array(head.length).fill(false);
  const filled = new Array(head.length).fill(false);
  let noStep = 0;
  for (const cells of table.slice(1)) {
    const row: ImportRow = {};
    cells.forEach((c, i) => {
      if (i >= head.length || !head[i] || (own && i < 3)) return;
      const t = c.trim();
      if (t === '') return;
      filled[i] = true;
      const n = Number(t);
      if (Number.isFinite(n)) {
        numeric[i] = true;
        row[i === stepAt ? 'step' : head[i]] = n;
      }
    });
    if (row.step === undefined) {
      noStep++;
      continue;
    }
    const key = own ? cells[0] : '';
    const g = groups.get(key) ?? { pipeline: own ? (cells[1] ?? '') : '', seeds: new Map() };
    groups.set(key, g);
    const seedNo = own && cells[2]?.trim() ? Number(cells[2]) : null;
    const seed = seedNo !== null && Number.isFinite(seedNo) ? seedNo : null;
    const rows = g.seeds.get(seed) ?? [];
    g.seeds.set(seed, rows);
    rows.push(row);
  }
  if (!groups.size) return fail(`none of its ${plural(noStep, 'row')} has a number in its ${head[stepAt]} column`);
  const notes: string[] = [];
  if (noStep) notes.push(`${plural(noStep, 'row')} had no ${head[stepAt]} and ${noStep === 1 ? 'was' : 'were'} left out`);
  const text = head.filter((h, i) => h && filled[i] && !numeric[i] && !(own && i < 3));
  if (text.length) notes.push(`${text.length === 1 ? 'column' : 'columns'} ${clip(text.join(', '), 100)} ${text.length === 1 ? 'holds' : 'hold'} no numbers and cannot be plotted`);
  const runs = [...groups.entries()].map(([key, g]) =>
    run(own ? `${name} ${key} ${g.pipeline}`.trim() : name, name, own ? 'export-csv' : 'csv', [...g.seeds.entries()].map(([seed, rows]) => ({ seed, rows }))),
  );
  return { ok: true, runs, notes };
}

/**
 * Which of the files picked or dropped (a whole sweep folder, say) to read: run files (.jsonl,
 * .json, .csv) but not unfinished sweep runs (.partial), and not a sweep's summary.csv when its
 * run files are there (they carry the curves it summarises).
 */
export function importable<F extends { name: string }>(files: F[]): { read: F[]; skipped: string[] } {
  const skipped: string[] = [];
  const partial = files.filter((f) => f.name.endsWith('.partial'));
  if (partial.length) skipped.push(`${partial.length} unfinished sweep run${partial.length === 1 ? '' : 's'} (.partial) left out`);
  const rest = files.filter((f) => !f.name.endsWith('.partial') && !f.name.startsWith('.'));
  const runFiles = rest.some((f) => /\.jsonl$/i.test(f.name));
  const read: F[] = [];
  let other = 0;
  for (const f of rest) {
    if (runFiles && f.name === 'summary.csv') {
      skipped.push('summary.csv left out: the run files beside it carry the curves it summarises');
      continue;
    }
    // From a folder, only the formats imports read; a single odd file is tried, and gets its message.
    if (files.length === 1 || /\.(jsonl|json|csv)$/i.test(f.name)) read.push(f);
    else other++;
  }
  if (other) skipped.push(`${other} other file${other === 1 ? '' : 's'} left out`);
  return { read, skipped };
}

/**
 * Sweep files of the same link and run (one combination, different seeds) become one run with a
 * seed per file; everything else stays as it is. A seed that comes twice keeps its first file.
 */
export function mergeSeeds(runs: ImportedRun[]): ImportedRun[] {
  const out: ImportedRun[] = [];
  const byKey = new Map<string, ImportedRun>();
  for (const r of runs) {
    const k = r.groupKey;
    const into = k ? byKey.get(k) : undefined;
    if (!into) {
      const copy = { ...r, files: [...r.files], seeds: [...r.seeds] };
      if (k) byKey.set(k, copy);
      out.push(copy);
      continue;
    }
    for (const s of r.seeds) if (!into.seeds.some((t) => t.seed === s.seed)) into.seeds.push(s);
    into.files.push(...r.files);
    into.maxStep = Math.max(into.maxStep, r.maxStep);
    into.metrics = metricsOf(into.seeds);
  }
  for (const r of out) r.seeds.sort((a, b) => (a.seed ?? 0) - (b.seed ?? 0));
  return out;
}
