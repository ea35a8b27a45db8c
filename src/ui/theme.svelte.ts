/**
 * Light or dark: the system's choice (prefers-color-scheme) unless the switch in the header chose
 * one, kept in this browser (localStorage; not in the link: the room differs at the other end).
 * CSS reads the html element's class (`dark`); plots read `isDark()` for their SVG attributes, so
 * an exported plot carries the colours shown (or light ones, `theme.exportLight`).
 */
export type ThemeChoice = 'auto' | 'light' | 'dark';
export const THEME_CHOICES: readonly ThemeChoice[] = ['auto', 'light', 'dark'];

const KEY = 'grpo-playground.theme';
const EXPORT_KEY = 'grpo-playground.export-light';

export const theme = $state({ choice: 'auto' as ThemeChoice, systemDark: false, exportLight: false });

export const isDark = () => theme.choice === 'dark' || (theme.choice === 'auto' && theme.systemDark);

function stored(key: string): string | null {
  try {
    return typeof localStorage === 'object' ? localStorage.getItem(key) : null;
  } catch {
    return null; // storage refused (privacy settings): the choice lasts for this page only
  }
}
function store(key: string, value: string) {
  try {
    localStorage.setItem(key, value);
  } catch {
    /* as above */
  }
}

/** Read the stored choice and follow the system's scheme from now on. */
export function initTheme(): void {
  const c = stored(KEY);
  if (c === 'light' || c === 'dark' || c === 'auto') theme.choice = c;
  theme.exportLight = stored(EXPORT_KEY) === '1';
  const q = typeof matchMedia === 'function' ? matchMedia('(prefers-color-scheme: dark)') : null;
  theme.systemDark = q?.matches ?? false;
  q?.addEventListener('change', (e) => (theme.systemDark = e.matches));
}

export function setTheme(c: ThemeChoice): void {
  theme.choice = c;
  store(KEY, c);
}

export function setExportLight(on: boolean): void {
  theme.exportLight = on;
  store(EXPORT_KEY, on ? '1' : '0');
}

/** The colours plots write as SVG attributes, per theme. */
export const PLOT_LIGHT = { bg: '#ffffff', title: '#111111', text: '#222222', axis: '#444444', tick: '#888888', grid: '#e4e4e4', hover: '#999999', halo: '#ffffff' };
export const PLOT_DARK = { bg: '#1f242b', title: '#f2f4f6', text: '#dfe3e8', axis: '#c4c9d0', tick: '#8d95a0', grid: '#353c45', hover: '#a0a7b0', halo: '#1f242b' };
export const plotColors = () => (isDark() ? PLOT_DARK : PLOT_LIGHT);
