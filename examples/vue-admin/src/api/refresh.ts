// The one token refresh in flight.
//
// Two refreshes of one refresh token count as token theft and end the session
// (docs/api.md, "Refresh rotation"), so every caller that needs fresh tokens shares
// the same promise until it settles.
import { tokens, type TokenPair } from './tokens'

type Listener = () => void
const endedListeners = new Set<Listener>()

/** Called when the session can no longer be refreshed (sign in again). */
export function onSessionEnded(fn: Listener): () => void {
  endedListeners.add(fn)
  return () => endedListeners.delete(fn)
}

export function endSession() {
  tokens.clear()
  endedListeners.forEach((fn) => fn())
}

let refreshing: Promise<boolean> | null = null

/** Refreshes the token pair; resolves false when the session has ended. */
export function refreshTokens(): Promise<boolean> {
  refreshing ??= (async () => {
    const refresh_token = tokens.refresh
    if (!refresh_token) return false
    try {
      const res = await fetch('/api/v1/auth/refresh', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ refresh_token }),
      })
      if (!res.ok) {
        // 401: the token was used, revoked or expired (the session is over); anything
        // else (429, 503) is passing: keep the tokens and let a later call retry.
        if (res.status === 401) endSession()
        return false
      }
      tokens.store((await res.json()) as TokenPair)
      return true
    } catch {
      return false // network error: keep the tokens, the next call retries
    }
  })().finally(() => {
    refreshing = null
  })
  return refreshing
}
