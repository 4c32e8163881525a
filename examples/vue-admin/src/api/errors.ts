// The error body every route shares: {"error": {code, message, details, request_id}},
// as the server's OpenAPI document declares it (src/api/schema.d.ts).
import type { components } from './schema'

/** One offending field: `code` and `params` for a UI's own wording (src/i18n), and
 * the server's English `message`. */
export type FieldError = components['schemas']['FieldErrorBody']

export type ErrorBody = components['schemas']['ErrorBody']

export class ApiError extends Error {
  readonly status: number
  readonly code: string
  readonly details: FieldError[]
  readonly requestId: string | null

  constructor(status: number, body: unknown) {
    const e = (body as ErrorBody | undefined)?.error
    super(e?.message ?? `HTTP ${status}`)
    this.name = 'ApiError'
    this.status = status
    this.code = e?.code ?? 'http_error'
    this.details = e?.details ?? []
    this.requestId = e?.request_id ?? null
  }
}

/** A readable one-line message for a notification. */
export function describe(err: unknown): string {
  if (err instanceof ApiError) {
    return err.requestId ? `${err.message} (request ${err.requestId})` : err.message
  }
  return err instanceof Error ? err.message : String(err)
}
