// The typed API client: openapi-fetch over the generated schema, with the session's
// bearer token, the chosen company and one shared refresh on an expired token.
import createClient from 'openapi-fetch'
import type { paths } from './schema'
import { ApiError } from './errors'
import { refreshTokens } from './refresh'
import { tokens } from './tokens'

// Routes that carry their own credentials: never add a bearer token or refresh.
const PUBLIC = /\/api\/v1\/auth\/(login|refresh|logout|oauth\/providers|password\/|invitations\/|email\/verify$)/

function withSession(req: Request, access: string | null): Request {
  const headers = new Headers(req.headers)
  if (access) headers.set('Authorization', `Bearer ${access}`)
  const company = tokens.companyId
  if (company && !headers.has('X-Company-ID')) headers.set('X-Company-ID', String(company))
  return new Request(req, { headers })
}

async function errorCode(res: Response): Promise<string | null> {
  try {
    return ((await res.clone().json()) as { error?: { code?: string } }).error?.code ?? null
  } catch {
    return null
  }
}

export async function sessionFetch(input: Request): Promise<Response> {
  if (PUBLIC.test(new URL(input.url, location.href).pathname)) return fetch(input)
  const sent = tokens.access
  const res = await fetch(withSession(input.clone(), sent))
  if (res.status !== 401 || !tokens.refresh) return res
  const code = await errorCode(res)
  if (code !== 'token_expired' && code !== 'invalid_token') return res
  // Another request may already have refreshed the pair this one was sent with.
  if (tokens.access === sent && !(await refreshTokens())) return res
  return fetch(withSession(input, tokens.access))
}

export const api = createClient<paths>({ baseUrl: '', fetch: sessionFetch })

/** The data of an openapi-fetch result, or an ApiError carrying the error body. */
export function ok<T>(result: { data?: T; error?: unknown; response: Response }): T {
  if (result.response.ok) return result.data as T
  throw new ApiError(result.response.status, result.error)
}
