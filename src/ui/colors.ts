/**
 * Run colours: Okabe-Ito, distinguishable with colour-vision deficiencies and on projectors; on the
 * dark theme the same hues, lighter (contrast ≥ 3:1 on the dark panel). Each run also has its own
 * marker shape (MARKERS), so lines stay apart without colour.
 */
import { isDark, PLOT_DARK, PLOT_LIGHT } from './theme.svelte';

export const RUN_COLORS = ['#0072B2', '#D55E00', '#009E73', '#CC79A7'];
export const RUN_COLORS_DARK = ['#56B4E9', '#F5793A', '#2FC99B', '#E19AC6'];
export const runColor = (i: number) => (isDark() ? RUN_COLORS_DARK : RUN_COLORS)[i % RUN_COLORS.length];

/** Marker shapes, by run (r1 circle, r2 square, r3 triangle, r4 diamond) then imports. */
export const MARKERS = ['circle', 'square', 'triangle', 'diamond', 'cross', 'star'] as const;
export type Marker = (typeof MARKERS)[number];
export const runMarker = (i: number): Marker => MARKERS[i % 4];

export const TEACHER_CEILING_LIGHT = '#222222';
export const TEACHER_CEILING_DARK = '#e8eaed';
export const TEACHER_SAMPLED_LIGHT = '#8a8a8a';
export const TEACHER_SAMPLED_DARK = '#9aa1ab';
export const teacherCeiling = () => (isDark() ? TEACHER_CEILING_DARK : TEACHER_CEILING_LIGHT);
export const teacherSampled = () => (isDark() ? TEACHER_SAMPLED_DARK : TEACHER_SAMPLED_LIGHT);

export const IMPORT_COLORS = ['#E69F00', '#56B4E9', '#7B3294', '#555555', '#A6761D', '#E7298A'];
export const IMPORT_COLORS_DARK = ['#E69F00', '#8FD0F5', '#B98AD6', '#B0B0B0', '#D9A45A', '#F06AB0'];
export const importColor = (i: number) => (isDark() ? IMPORT_COLORS_DARK : IMPORT_COLORS)[i % IMPORT_COLORS.length];

/** Every dark colour a plot may carry, and its light counterpart: an export "light on request". */
export function darkToLight(): Map<string, string> {
  const m = new Map<string, string>();
  const pair = (a: readonly string[], b: readonly string[]) => a.forEach((d, i) => m.set(d.toLowerCase(), b[i].toLowerCase()));
  pair(RUN_COLORS_DARK, RUN_COLORS);
  pair(IMPORT_COLORS_DARK, IMPORT_COLORS);
  pair([TEACHER_CEILING_DARK, TEACHER_SAMPLED_DARK], [TEACHER_CEILING_LIGHT, TEACHER_SAMPLED_LIGHT]);
  pair(Object.values(PLOT_DARK), Object.values(PLOT_LIGHT));
  return m;
}

/** An SVG document drawn in the dark theme, in the light theme's colours. */
export function lightSvg(svg: string): string {
  const m = darkToLight();
  return svg.replace(/#[0-9a-fA-F]{6}\b/g, (c) => m.get(c.toLowerCase()) ?? c);
}

/** An import's colour from its id (i1, i2, ...): stable when others are removed, and theme-aware. */
export const importColorOf = (id: string) => importColor(Math.max(0, Number(id.slice(1)) - 1 || 0));
export const importMarker = (id: string): Marker => MARKERS[4 + ((Math.max(0, Number(id.slice(1)) - 1 || 0)) % 2)];

/** The low-precision plot's line for a format: full precision in the theme's ink, the rest coloured. */
export const formatColor = (f: string) => (f === 'fp32' ? teacherCeiling() : (FORMAT_COLORS[f] ?? '#888888'));
const FORMAT_COLORS: Record<string, string> = { bf16: '#4e79a7', fp8: '#59a14f', int8: '#f28e2b', int4: '#e15759', ternary: '#b07aa1' };
