// Display helpers.

/** `2026-12-05 14:28` in the browser's time zone; '—' for none. */
export function dateTime(iso: string | null | undefined): string {
  if (!iso) return '—'
  const d = new Date(iso)
  if (Number.isNaN(d.getTime())) return iso
  const p = (n: number) => String(n).padStart(2, '0')
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}`
}

/** An `el-table-column` formatter showing a timestamp column with `dateTime`. */
export const dateColumn = (_row: unknown, _col: unknown, value: string | null | undefined) => dateTime(value)
