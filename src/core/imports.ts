/**
 * Runs that were not trained here, read from files so they can be drawn beside live runs: a sweep's
 * (or `npm run sim -- --json`'s) JSONL, the page's own JSON or CSV export, TRL's
 * `trainer_state.json` (its `log_history`, whose metric names this project follows) and any CSV
 * with a step column. Pure and total: a file comes back as runs plus notes (rows without a step,
 * columns that are not numbers), or as one message saying why it could not be read. Nothing here
 * throws, and nothing becomes HTML.
 */
import { decode, type Msg, messenger, type MsgParams, pipelineId, runSteps } from './config';

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

/**
 * A file read: its runs, and notes on what was left out (`notes` in English; `noteMsgs` the same
 * notes, one for one, with their codes for the page's languages). Or why it could not be read.
 */
export type ImportResult = { ok: true; runs: ImportedRun[]; notes: string[]; noteMsgs: Msg[] } | ({ ok: false } & Msg);

/** Why a file was not imported, and what was left out of one (codes: see config.ts's CONFIG_MESSAGES). */
export const IMPORT_MESSAGES = {
  'import.tooLarge': 'it is larger than {mb} MB',
  'import.notText': 'it is not a text file',
  'import.empty': 'it is empty',
  'import.notJson': 'it is not valid JSON',
  'import.unknownJson': "it is JSON but neither TRL's trainer_state.json (an object with log_history) nor this page's export (an object with runs)",
  'import.historyNotList': 'its log_history is not a list',
  'import.historyNoStep': 'no entry of its log_history has a step',
  'import.historyEmpty': 'its log_history is empty',
  'import.exportNoRows': 'its runs have no rows',
  'import.notJsonLines': 'it is not valid JSON or JSON lines',
  'import.noStepRows.one': 'none of its {n} row has a step',
  'import.noStepRows.many': 'none of its {n} rows has a step',
  'import.noRows': 'it has no rows',
  'import.csvNoRows': 'it is not a CSV with a header and rows',
  'import.csvColumns': 'it is not a CSV: its first line has fewer than two columns',
  'import.sweepSummary': "it is a sweep's summary (medians per combination, no curves): import the sweep's .jsonl run files instead",
  'import.noStepColumn': 'it has no step column (looked for {wanted}); its columns are {columns}',
  'import.csvNoStep.one': 'none of its {n} row has a number in its {column} column',
  'import.csvNoStep.many': 'none of its {n} rows has a number in its {column} column',
  // Notes: what was left out of a file that was read.
  'import.note.historyNoStep.one': '{n} entry of its log_history had no step and was left out',
  'import.note.historyNoStep.many': '{n} entries of its log_history had no step and were left out',
  'import.note.historyNotObject.one': '{n} entry of its log_history was not an object and was left out',
  'import.note.historyNotObject.many': '{n} entries of its log_history were not objects and were left out',
  'import.note.runNoSeeds': 'its run {run} has no seeds and was left out',
  'import.note.runNoRows': 'its run {run} has no rows and was left out',
  'import.note.rowsNoStep.one': '{n} row had no step and was left out',
  'import.note.rowsNoStep.many': '{n} rows had no step and were left out',
  'import.note.badLines.one': '{n} line (the first is line {first}) is not JSON objects and was left out',
  'import.note.badLines.many': '{n} lines (the first is line {first}) are not JSON objects and were left out',
  'import.note.csvNoStep.one': '{n} row had no {column} and was left out',
  'import.note.csvNoStep.many': '{n} rows had no {column} and were left out',
  'import.note.textColumns.one': 'column {columns} holds no numbers and cannot be plotted',
  'import.note.textColumns.many': 'columns {columns} hold no numbers and cannot be plotted',
  // Files of a folder that were not read (importable).
  'import.skip.partial.one': '{n} unfinished sweep run (.partial) left out',
  'import.skip.partial.many': '{n} unfinished sweep runs (.partial) left out',
  'import.skip.summary': 'summary.csv left out: the run files beside it carry the curves it summarises',
  'import.skip.other.one': '{n} other file left out',
  'import.skip.other.many': '{n} other files left out',
} as const satisfies Record<string, string>;
type ImportCode = keyof typeof IMPORT_MESSAGES;
export const importMsg = messenger(IMPORT_MESSAGES);
/** The message of a count: the code's `.one` form for 1, else its `.many` form. */
type Counted<C> = C extends `${infer B}.one` ? B : never;
const counted = (base: Counted<ImportCode>, n: number, params: MsgParams = {}) => importMsg(`${base}.${n === 1 ? 'one' : 'many'}` as ImportCode, { n, ...params });

/** Larger files are refused (a TRL log of 100k steps is a few MB). */
export const MAX_IMPORT_BYTES = 64 * 1024 * 1024;

/** Columns a CSV may call its step, in order of preference (W&B exports use `_step` or `Step`). */
export const STEP_COLUMNS = ['step', 'global_step', 'trainer/global_step', 'train/global_step', '_step', 'iteration', 'iter'];

const fail = (m: Msg): ImportResult => ({ ok: false, ...m });
const done = (runs: ImportedRun[], notes: Msg[]): ImportResult => ({ ok: true, runs, notes: notes.map((n) => n.message), noteMsgs: notes });
const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
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
  if (text.length > MAX_IMPORT_BYTES) return fail(importMsg('import.tooLarge', { mb: MAX_IMPORT_BYTES / 1024 / 1024 }));
  if (text.includes('\u0000')) return fail(importMsg('import.notText'));
  const body = text.replace(/^\uFEFF/, '').trim();
  if (!body) return fail(importMsg('import.empty'));
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
    return fail(importMsg('import.notJson'));
  }
  if (/\.jsonl?$/i.test(name)) return fail(importMsg('import.notJson'));
  return fromCsv(name, body);
}

function fromJson(name: string, doc: unknown): ImportResult {
  if (!isRecord(doc)) return fail(importMsg('import.unknownJson'));
  if ('log_history' in doc) return fromTrl(name, doc);
  if (Array.isArray(doc.runs) && ('hash' in doc || 'config' in doc)) return fromExport(name, doc);
  // One JSON line of a sweep/sim file is also a JSON document.
  if ('sweep' in doc || 'step' in doc) return fromJsonLines(name, JSON.stringify(doc));
  return fail(importMsg('import.unknownJson'));
}

/** TRL / transformers Trainer state: `log_history` is a list of dicts, each with `step`. */
function fromTrl(name: string, doc: Record<string, unknown>): ImportResult {
  const history = doc.log_history;
  if (!Array.isArray(history)) return fail(importMsg('import.historyNotList'));
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
  if (!rows.length) return fail(importMsg(history.length ? 'import.historyNoStep' : 'import.historyEmpty'));
  const notes: Msg[] = [];
  if (noStep) notes.push(counted('import.note.historyNoStep', noStep));
  if (notObject) notes.push(counted('import.note.historyNotObject', notObject));
  const max = typeof doc.max_steps === 'number' && doc.max_steps > 0 ? doc.max_steps : typeof doc.global_step === 'number' ? doc.global_step : undefined;
  return done([run(name, name, 'trl', [{ seed: null, rows }], max)], notes);
}

/** The page's Export JSON: { link, hash, config, runs: [{ id, pipeline, seeds: [{ seed, rows }] }] }. */
function fromExport(name: string, doc: Record<string, unknown>): ImportResult {
  const runs: ImportedRun[] = [];
  const notes: Msg[] = [];
  let noStep = 0;
  (doc.runs as unknown[]).forEach((r, i) => {
    if (!isRecord(r) || !Array.isArray(r.seeds)) {
      notes.push(importMsg('import.note.runNoSeeds', { run: i + 1 }));
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
      notes.push(importMsg('import.note.runNoRows', { run: typeof r.id === 'string' ? r.id : i + 1 }));
      return;
    }
    const id = typeof r.id === 'string' ? r.id : `r${i + 1}`;
    const label = `${name} ${id}${typeof r.pipeline === 'string' ? ` ${r.pipeline}` : ''}`;
    runs.push(run(label, name, 'export', seeds, budgetOf(doc.hash, i)));
  });
  if (noStep) notes.push(counted('import.note.rowsNoStep', noStep));
  if (!runs.length) return fail(importMsg('import.exportNoRows'));
  return done(runs, notes);
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
    if (bad && bad === lines.filter((l) => l.trim()).length) return fail(importMsg('import.notJsonLines'));
    return fail(noStep ? counted('import.noStepRows', noStep) : importMsg('import.noRows'));
  }
  const notes: Msg[] = [];
  if (bad) notes.push(counted('import.note.badLines', bad, { first: firstBad }));
  if (noStep) notes.push(counted('import.note.rowsNoStep', noStep));
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
  return done(runs, notes);
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
  if (table.length < 2) return fail(importMsg('import.csvNoRows'));
  const head = table[0].map((h) => h.trim());
  if (head.length < 2) return fail(importMsg('import.csvColumns'));
  if (head.includes('seeds') && head.some((h) => h.endsWith('/median'))) return fail(importMsg('import.sweepSummary'));
  const lower = head.map((h) => h.toLowerCase());
  const stepAt = STEP_COLUMNS.map((c) => lower.indexOf(c)).find((i) => i >= 0);
  if (stepAt === undefined) return fail(importMsg('import.noStepColumn', { wanted: STEP_COLUMNS.join(', '), columns: clip(head.join(', '), 120) }));
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
  if (!groups.size) return fail(counted('import.csvNoStep', noStep, { column: head[stepAt] }));
  const notes: Msg[] = [];
  if (noStep) notes.push(counted('import.note.csvNoStep', noStep, { column: head[stepAt] }));
  const text = head.filter((h, i) => h && filled[i] && !numeric[i] && !(own && i < 3));
  if (text.length) notes.push(counted('import.note.textColumns', text.length, { columns: clip(text.join(', '), 100) }));
  const runs = [...groups.entries()].map(([key, g]) =>
    run(own ? `${name} ${key} ${g.pipeline}`.trim() : name, name, own ? 'export-csv' : 'csv', [...g.seeds.entries()].map(([seed, rows]) => ({ seed, rows }))),
  );
  return done(runs, notes);
}

/**
 * Which of the files picked or dropped (a whole sweep folder, say) to read: run files (.jsonl,
 * .json, .csv) but not unfinished sweep runs (.partial), and not a sweep's summary.csv when its
 * run files are there (they carry the curves it summarises).
 */
export function importable<F extends { name: string }>(files: F[]): { read: F[]; skipped: string[]; skippedMsgs: Msg[] } {
  const skipped: Msg[] = [];
  const partial = files.filter((f) => f.name.endsWith('.partial'));
  if (partial.length) skipped.push(counted('import.skip.partial', partial.length));
  const rest = files.filter((f) => !f.name.endsWith('.partial') && !f.name.startsWith('.'));
  const runFiles = rest.some((f) => /\.jsonl$/i.test(f.name));
  const read: F[] = [];
  let other = 0;
  for (const f of rest) {
    if (runFiles && f.name === 'summary.csv') {
      skipped.push(importMsg('import.skip.summary'));
      continue;
    }
    // From a folder, only the formats imports read; a single odd file is tried, and gets its message.
    if (files.length === 1 || /\.(jsonl|json|csv)$/i.test(f.name)) read.push(f);
    else other++;
  }
  if (other) skipped.push(counted('import.skip.other', other));
  return { read, skipped: skipped.map((m) => m.message), skippedMsgs: skipped };
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
