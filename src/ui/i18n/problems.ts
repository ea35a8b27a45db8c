/**
 * The core's messages in the page's language: a link's problems (src/core/config.ts's Problem, and
 * the view keys' in src/ui/url.ts), a value's, a policy file's, an imported file's, a checkpoint's.
 * The core gives each its English `message`, a `code` and `params`; the catalogue holds
 * `problem.<code>` (the English equal to the core's template, the Chinese in parts/problems.ts).
 * English is the core's message as it is; a message without a code, or with a code the catalogue
 * does not know, stays in English.
 */
import type { Msg, Problem } from '../../core/config';
import { en, type MessageKey } from './en';
import { i18n, t } from './index.svelte';

/** Any core result's message (parseValue, parsePolicy, policyMismatchMsg, parseImport, a CheckpointError). */
export function coreMessage(r: Msg): string {
  const lang = i18n.lang; // read first: a caller in markup re-renders on a language switch
  if (lang === 'en' || !r.code) return r.message;
  const key = `problem.${r.code}`;
  return key in en ? t(key as MessageKey, r.params) : r.message;
}

/** A link's problem, in the page's language. */
export function problemText(p: Problem): string {
  return coreMessage(p);
}
