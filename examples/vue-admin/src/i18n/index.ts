// Field errors in the reader's language. Every detail of an error body carries a `code`
// (`length`, `taken`, ...) and the `params` its message names (`{min: 3, max: 100}`);
// a language is one table of templates keyed by code (./en.ts). To add a language, copy
// en.ts (say to de.ts) and list it in `tables` below; the browser's preferred languages
// pick the table. A code the table lacks (`invalid`, or one a newer server adds), or a
// template whose params are missing, shows the server's own (English) message.
import en from './en'

/** A language's field messages by code: one template, or several tried in order. */
export type FieldMessages = Readonly<Record<string, string | readonly string[]>>

/** A detail of an error body, as far as a message needs it. */
export interface FieldDetail {
  code?: string
  message: string
  params?: Readonly<Record<string, unknown>>
}

const tables: Readonly<Record<string, FieldMessages>> = { en }

function pick(languages: readonly string[]): FieldMessages {
  for (const tag of languages) {
    const table = tables[tag] ?? tables[tag.split('-')[0]]
    if (table) return table
  }
  return en
}

let table = pick(typeof navigator === 'undefined' ? [] : navigator.languages)

/** Uses the table of `tag` (`de`, `pt-BR`), or English when there is none. */
export function setLanguage(tag: string) {
  table = pick([tag])
}

const PLACEHOLDER = /\{(\w+)\}/g

/** `{min}` and `{max}` of `template` filled from `params`; null when one is missing. */
function fill(template: string, params: Readonly<Record<string, unknown>>): string | null {
  for (const [, name] of template.matchAll(PLACEHOLDER)) if (params[name] == null) return null
  return template.replace(PLACEHOLDER, (_, name: string) => String(params[name]))
}

/** The message of one field error: its code's template, else the server's message. */
export function fieldMessage(d: FieldDetail): string {
  const entry = d.code ? table[d.code] : undefined
  const templates = typeof entry === 'string' ? [entry] : (entry ?? [])
  for (const t of templates) {
    const text = fill(t, d.params ?? {})
    if (text !== null) return text
  }
  return d.message
}
