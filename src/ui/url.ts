/**
 * The page's URL hash = the experiment (src/core/config.ts's codec) + view keys that are not
 * experiment settings: `present=1` (presenter mode), `hide=a,b` (a classroom link hiding
 * controls), `x=samples` (the plots' x-axis) and `lang=zh` (the interface's language; without it,
 * the browser's). View keys are split off before the engine's
 * decode (so it does not call them unknown) and appended after its encode. Total like decode:
 * every bad view value becomes a Problem; nothing here ever becomes HTML.
 */
import { type ExperimentConfig, type Problem, configMsg, decode, encode, EXPERIMENT_FIELDS, overlay, RUN_FIELDS } from '../core/config';
import { PRESETS, presetById, presetConfig } from '../core/presets';

export const X_AXES = [
  { key: 'step', label: 'steps' },
  { key: 'cost/samples', label: 'samples' },
  { key: 'cost/tokens', label: 'tokens' },
  { key: 'cost/flops', label: 'flops' },
  { key: 'time/seconds', label: 'seconds' },
] as const;
export type XAxis = (typeof X_AXES)[number]['key'];

/** Parts of the page a classroom link can hide, besides single settings (by schema key); named in the catalogue (classroom.section.<key>). */
export const HIDEABLE_SECTIONS = ['builder', 'runs', 'presets', 'subsets', 'diagnostics', 'inspector', 'export'] as const;

const FIELD_KEYS: string[] = [...EXPERIMENT_FIELDS, ...RUN_FIELDS].map((f) => f.key);
const HIDEABLE = new Set<string>([...HIDEABLE_SECTIONS, ...FIELD_KEYS]);

export interface View {
  present: boolean;
  hide: string[];
  x: XAxis;
  /** The interface's language, when the link (or the switch) chose one. */
  lang: 'en' | 'zh' | null;
}

export const defaultView = (): View => ({ present: false, hide: [], x: 'step', lang: null });

const VIEW_KEYS = new Set(['present', 'hide', 'x', 'lang']);

export interface Location {
  config: ExperimentConfig;
  view: View;
  problems: Problem[];
}

const clip = (s: string) => (s.length > 40 ? s.slice(0, 40) + '…' : s);
const safeDecode = (s: string) => {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
};

/** Split a hash into the engine's part and the view keys (parsed and checked). */
export function splitView(hash: string): { experiment: string; view: View; problems: Problem[] } {
  const view = defaultView();
  const problems: Problem[] = [];
  const kept: string[] = [];
  for (const raw of hash.replace(/^#/, '').split('&')) {
    if (raw === '') continue;
    const eq = raw.indexOf('=');
    const key = safeDecode(eq < 0 ? raw : raw.slice(0, eq));
    if (!VIEW_KEYS.has(key)) {
      kept.push(raw);
      continue;
    }
    const value = safeDecode(eq < 0 ? '' : raw.slice(eq + 1));
    if (key === 'present') {
      if (value === '1' || value === '0') view.present = value === '1';
      else problems.push({ key, value: clip(value), ...configMsg('value.oneOrZero'), used: '0' });
    } else if (key === 'lang') {
      if (value === 'en' || value === 'zh') view.lang = value;
      else problems.push({ key, value: clip(value), ...configMsg('value.oneOf', { options: 'en, zh' }) });
    } else if (key === 'x') {
      const axis = X_AXES.find((a) => a.label === value || a.key === value);
      if (axis) view.x = axis.key;
      else problems.push({ key, value: clip(value), ...configMsg('value.oneOf', { options: X_AXES.map((a) => a.label).join(', ') }), used: 'steps' });
    } else {
      for (const item of value.split(',')) {
        if (item === '') continue;
        if (HIDEABLE.has(item)) {
          if (!view.hide.includes(item)) view.hide.push(item);
        } else problems.push({ key: 'hide', value: clip(item), ...configMsg('view.hide') });
      }
    }
  }
  return { experiment: kept.join('&'), view, problems };
}

/**
 * Read a whole location hash. An empty hash gives `fallback` (the default preset). A short link
 * `preset=ID` (what one would type on a projector) starts from that preset, and any other settings
 * in the link override it; an unknown ID is a problem and the rest of the link still applies.
 */
export function readHash(hash: string, fallback: () => ExperimentConfig): Location {
  const { experiment, view, problems } = splitView(hash);
  const parts = experiment === '' ? [] : experiment.split('&');
  const presetPart = parts.find((p) => p.startsWith('preset='));
  if (presetPart !== undefined) {
    const rest = parts.filter((p) => !p.startsWith('preset=')).join('&');
    let id = presetPart.slice('preset='.length);
    try {
      id = decodeURIComponent(id);
    } catch {
      /* keep it raw: reported below */
    }
    const preset = presetById(id);
    if (preset) {
      const d = overlay(presetConfig(preset), rest);
      return { config: d.config, view, problems: [...d.problems, ...problems] };
    }
    problems.push({ key: 'preset', value: id.slice(0, 40), ...configMsg('view.preset', { presets: PRESETS.map((p) => p.id).join(', ') }) });
    if (rest === '') return { config: fallback(), view, problems };
    const d = decode(rest);
    return { config: d.config, view, problems: [...d.problems, ...problems] };
  }
  if (experiment === '') return { config: fallback(), view, problems };
  const d = decode(experiment);
  return { config: d.config, view, problems: [...d.problems, ...problems] };
}

/** The hash body (no '#') for a config and view: the engine's encoding, then the view keys. */
export function writeHash(config: ExperimentConfig, view: View): string {
  const parts = [encode(config)];
  if (view.present) parts.push('present=1');
  if (view.hide.length) parts.push(`hide=${view.hide.map(encodeURIComponent).join(',')}`);
  if (view.x !== 'step') parts.push(`x=${X_AXES.find((a) => a.key === view.x)!.label}`);
  if (view.lang) parts.push(`lang=${view.lang}`);
  return parts.join('&');
}

export const isHidden = (view: View, key: string) => view.hide.includes(key);
