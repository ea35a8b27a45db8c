/** Run colours: Okabe-Ito, distinguishable with colour-vision deficiencies and on projectors. */
export const RUN_COLORS = ['#0072B2', '#D55E00', '#009E73', '#CC79A7'];
export const runColor = (i: number) => RUN_COLORS[i % RUN_COLORS.length];
export const TEACHER_CEILING = '#222222';
export const TEACHER_SAMPLED = '#8a8a8a';
export const IMPORT_COLORS = ['#E69F00', '#56B4E9', '#7B3294', '#555555', '#A6761D', '#E7298A'];
export const importColor = (i: number) => IMPORT_COLORS[i % IMPORT_COLORS.length];
