// The signed-in user: sign-in (with the second-factor step), the companies it works in,
// the active company, and sign-out.
import { defineStore } from 'pinia'
import { computed, ref, shallowRef } from 'vue'
import { api, ok } from '@/api/client'
import { ApiError } from '@/api/errors'
import { tokens, type TokenPair } from '@/api/tokens'
import type { Me, MyCompany } from '@/api/types'
import { useAccessStore } from './access'
import { permissionStream } from './permissionStream'

/** What `POST /auth/login` answers when a second factor is needed. */
export interface MfaStep {
  mfa_token: string
  enrol_required: boolean
}

export const useSessionStore = defineStore('session', () => {
  const me = shallowRef<Me | null>(null)
  const extraCompanies = shallowRef<MyCompany[]>([])
  const loaded = ref(false)

  const signedIn = computed(() => me.value !== null)
  const activeCompanyId = computed(() => me.value?.active_company_id ?? null)
  /** The companies offered by the switcher: the user's own, and for a superuser every one. */
  const companies = computed<MyCompany[]>(() => {
    const own = me.value?.companies ?? []
    const ids = new Set(own.map((c) => c.id))
    return [...own, ...extraCompanies.value.filter((c) => !ids.has(c.id))]
  })

  function adoptTokens(pair: TokenPair) {
    tokens.store(pair)
  }

  /** Signs in; answers the second-factor step when the server asks for one. */
  async function signIn(username: string, password: string): Promise<MfaStep | null> {
    const body = ok(await api.POST('/api/v1/auth/login', { body: { username, password } }))
    if ('mfa_token' in body) return { mfa_token: body.mfa_token, enrol_required: body.enrol_required }
    adoptTokens(body)
    await load()
    return null
  }

  /** Completes a sign-in with a TOTP code or a recovery code. */
  async function signInSecondFactor(mfa_token: string, code: string, recovery: boolean) {
    const body = recovery ? { mfa_token, recovery_code: code } : { mfa_token, code }
    adoptTokens(ok(await api.POST('/api/v1/auth/login/2fa', { body })))
    await load()
  }

  /** Enrols the first second factor during a sign-in (a company requires one): the
   * setup of `mfa_token`'s user; see `completeEnrolment`. */
  async function startEnrolment(mfa_token: string) {
    return ok(await api.POST('/api/v1/auth/login/2fa/setup', { body: { mfa_token } }))
  }

  /** Confirms that enrolment with the app's first code: signs in and answers the
   * recovery codes, to be shown once. */
  async function completeEnrolment(mfa_token: string, code: string): Promise<string[]> {
    const body = ok(await api.POST('/api/v1/auth/login/2fa/confirm', { body: { mfa_token, code } }))
    adoptTokens(body)
    await load()
    return body.recovery_codes
  }

  /** Loads the user, its permissions and menus in one call (`/auth/me?include=`). */
  async function load() {
    const access = useAccessStore()
    const body = ok(
      await api.GET('/api/v1/auth/me', { params: { query: { include: 'permissions,menus' } } }),
    )
    me.value = body
    if (body.permissions) access.applyPermissions(body.permissions, null)
    if (body.menus) access.applyMenus(body.menus, null)
    // No ETags here: the stream's first event and the first revalidation bring them.
    if (body.is_superuser) await loadAllCompanies()
    else extraCompanies.value = []
    loaded.value = true
    permissionStream.start(body.active_company_id ?? null)
  }

  async function loadAllCompanies() {
    try {
      const page = ok(await api.GET('/api/v1/companies', { params: { query: { page_size: 100 } } }))
      extraCompanies.value = page.items.map((c) => ({ id: c.id, name: c.name, roles: [] }))
    } catch {
      extraCompanies.value = []
    }
  }

  /** Restores a session kept in this tab (after a reload); false when there is none. */
  async function restore(): Promise<boolean> {
    if (loaded.value) return true
    if (!tokens.access && !tokens.refresh) return false
    try {
      await load()
      return true
    } catch (err) {
      // The company kept by this tab may no longer be the user's: fall back to the default.
      if (err instanceof ApiError && err.status === 403 && tokens.companyId) {
        tokens.companyId = null
        return restore()
      }
      if (err instanceof ApiError && (err.status === 401 || err.status === 403)) {
        forget()
        return false
      }
      throw err
    }
  }

  /** Works in another company: every later request sends it as `X-Company-ID`. */
  async function switchCompany(companyId: number) {
    const previous = tokens.companyId
    tokens.companyId = companyId
    try {
      await load()
    } catch (err) {
      tokens.companyId = previous
      throw err
    }
  }

  function forget() {
    permissionStream.stop()
    tokens.clear()
    me.value = null
    extraCompanies.value = []
    loaded.value = false
    useAccessStore().reset()
  }

  /** Ends the session on the server (`POST /auth/logout`), then locally. */
  async function signOut() {
    const refresh_token = tokens.refresh
    permissionStream.stop()
    if (refresh_token) {
      try {
        await api.POST('/api/v1/auth/logout', { body: { refresh_token } })
      } catch {
        /* signed out locally whatever the server says */
      }
    }
    forget()
  }

  /** The session ended elsewhere (a refused refresh): drop everything. */
  function ended() {
    forget()
  }

  return {
    me,
    loaded,
    signedIn,
    activeCompanyId,
    companies,
    signIn,
    signInSecondFactor,
    startEnrolment,
    completeEnrolment,
    load,
    restore,
    switchCompany,
    signOut,
    ended,
  }
})
