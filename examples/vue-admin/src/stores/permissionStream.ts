// The live permission stream (`GET /auth/me/permissions/stream`, Server-Sent Events):
// one per tab. A `permissions` event carries the new set; a `menus` event says the menu
// tree changed. Either way the menus are revalidated with their ETag, so the sidebar,
// the buttons and the 403 page follow an administrator's change without a reload.
import { endSession, refreshTokens } from '@/api/refresh'
import { tokens } from '@/api/tokens'
import type { MyPermissions } from '@/api/types'
import { useAccessStore } from './access'

let source: EventSource | null = null
let company: number | null = null
let generation = 0

function open(gen: number) {
  const access = tokens.access
  if (!access || gen !== generation) return
  const params = new URLSearchParams({ access_token: access })
  if (company) params.set('company_id', String(company))
  const es = new EventSource(`/api/v1/auth/me/permissions/stream?${params}`)
  source = es
  const store = useAccessStore()
  const revalidate = () => {
    store.refreshMenus().catch(() => {})
  }

  es.addEventListener('permissions', (e) => {
    const data = JSON.parse((e as MessageEvent<string>).data) as MyPermissions & { etag: string }
    store.applyPermissions(data, data.etag)
    revalidate()
  })
  es.addEventListener('menus', (e) => {
    const data = JSON.parse((e as MessageEvent<string>).data) as { company_id: number; etag: string }
    if (data.etag === store.menusEtag) return // the tree this tab shows
    store.refreshPermissions().catch(() => {})
    revalidate()
  })
  es.addEventListener('expired', async () => {
    es.close()
    // A request may already have refreshed the pair: then reconnect with its token.
    if (tokens.access !== access || (await refreshTokens())) open(gen)
  })
  es.addEventListener('revoked', () => {
    es.close()
    source = null
    endSession()
  })
  es.addEventListener('closed', () => {
    es.close()
    source = null
  })
  es.onerror = () => {
    // EventSource retries network errors by itself; it gives up (CLOSED) on an error
    // status, such as 401 after the token expired while offline: reconnect with a fresh
    // token, unless the session has ended meanwhile.
    if (es.readyState !== EventSource.CLOSED || gen !== generation) return
    setTimeout(async () => {
      if (gen !== generation) return
      if (tokens.access === access) await refreshTokens()
      if (tokens.refresh) open(gen)
    }, 3000)
  }
}

export const permissionStream = {
  /** (Re)connects for `companyId` (null: the active company). */
  start(companyId: number | null) {
    this.stop()
    company = companyId
    open(++generation)
  },
  stop() {
    generation++
    source?.close()
    source = null
  },
}
