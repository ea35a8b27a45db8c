/**
 * The interface's language: English or Simplified Chinese. Every string the page shows comes from
 * a message catalogue (en.ts, zh.ts: one per language, the same keys), or, for the texts the core
 * owns (preset stories, the schema's labels and help, the link's problems), from the core in English
 * and from zh.ts's content tables in Chinese. Metric names, setting keys and exports stay as they are:
 * they are machine-readable.
 *
 * `i18n.lang` is reactive ($state): a component that calls t() re-renders when it changes.
 */
import { type Field, fillTemplate } from '../../core/config';
import type { Preset } from '../../core/presets';
import { en, type MessageKey } from './en';
import { zh, zhContent } from './zh';

export type Lang = 'en' | 'zh';
export const LANGS: readonly { key: Lang; name: string }[] = [
  { key: 'en', name: 'English' },
  { key: 'zh', name: '简体中文' },
];
export const isLang = (s: string): s is Lang => s === 'en' || s === 'zh';

export const i18n = $state<{ lang: Lang }>({ lang: 'en' });

/** A message kept as key and values, translated when shown (so a language switch retranslates it). */
export interface Msg {
  key: MessageKey;
  params?: Params;
}
/**
 * What a notice or a card shows: a message, text from outside (an error's own words, a file name),
 * or a function giving text in the page's language when called (e.g. a core message's translation).
 */
export type Text = string | Msg | (() => string);
/** Values of placeholders; a value may itself be a Text (translated too). */
export type Params = Record<string, string | number | Msg | (() => string)>;
export type { MessageKey };

export const msg = (key: MessageKey, params?: Params): Msg => ({ key, params });
/** A Text in the page's language. */
export const tx = (m: Text): string => inLang(m, i18n.lang);

/** A Text in a given language (a function gives its own). */
function inLang(m: Text, lang: Lang): string {
  if (typeof m === 'string') return m;
  if (typeof m === 'function') return m();
  return fill(CATALOGUES[lang][m.key] ?? en[m.key] ?? m.key, m.params, lang);
}

/** An Error whose words are a message: what it says follows the language wherever it is shown. */
export class TextError extends Error {
  constructor(readonly text: Msg) {
    super(inLang(text, 'en'));
  }
}
/** The Text of anything thrown: a TextError's message, or the error's own words. */
export const textOf = (e: unknown): Text =>
  e instanceof TextError ? e.text : e instanceof Error ? e.message : isMsg(e) || typeof e === 'function' ? (e as Text) : String(e);
const isMsg = (e: unknown): e is Msg => typeof e === 'object' && e !== null && typeof (e as Msg).key === 'string' && (e as Msg).key in en;
/** A text with its first letter upper-case (a sentence that starts with a message that may stand inside one). */
export const capitalised = (m: Text): (() => string) => () => {
  const s = tx(m);
  return s.charAt(0).toUpperCase() + s.slice(1);
};

const CATALOGUES: Record<Lang, Record<MessageKey, string>> = { en, zh };

/**
 * Fill `{name}` placeholders (the core's fillTemplate), values that are messages first put in
 * `lang`. An unknown placeholder stays visible (a test checks none are).
 */
export function fill(template: string, params?: Params, lang: Lang = i18n.lang): string {
  return fillTemplate(template, params && Object.fromEntries(Object.entries(params).map(([k, v]) => [k, typeof v === 'number' ? v : inLang(v, lang)])));
}

/** The message `key` in the page's language, its `{placeholders}` filled from `params`. */
export function t(key: MessageKey, params?: Params): string {
  return inLang({ key, params }, i18n.lang);
}

/** The language a browser asks for first among ours (zh-CN, zh-TW, zh → zh; anything else → en). */
export function browserLang(langs: readonly string[] = typeof navigator === 'object' ? navigator.languages ?? [navigator.language] : []): Lang {
  for (const l of langs) {
    const base = l.toLowerCase().split('-')[0];
    if (base === 'zh') return 'zh';
    if (base === 'en') return 'en';
  }
  return 'en';
}

// ---------------------------------------------------------------------------------------------
// Texts the core owns (English in src/core; Chinese in zh.ts's zhContent)
// ---------------------------------------------------------------------------------------------
const zhOr = (s: string | undefined, english: string) => (i18n.lang === 'zh' && s ? s : english);

export const presetTitle = (p: Preset) => zhOr(zhContent.presets[p.id]?.title, p.title);
export const presetStory = (p: Preset) => zhOr(zhContent.presets[p.id]?.story, p.story);
/** A setting's label; `scope` is 'experiment' (shared settings) or 'run' (per-run settings). */
export const fieldLabel = (f: Field, scope: 'experiment' | 'run') => zhOr(zhContent.fields[`${scope}.${f.key}`]?.label, f.label);
export const fieldDoc = (f: Field, scope: 'experiment' | 'run') => zhOr(zhContent.fields[`${scope}.${f.key}`]?.doc, f.doc);
