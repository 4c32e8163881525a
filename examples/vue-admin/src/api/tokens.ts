// Where the session's tokens and the chosen company live.
//
// sessionStorage keeps them per tab (two tabs never share, and so never refresh, one
// refresh token) and survives a reload. Reading storage on every request also lets a
// test replace the access token of a running app.
const ACCESS = 'fastvue.access'
const REFRESH = 'fastvue.refresh'
const COMPANY = 'fastvue.company'

export interface TokenPair {
  access_token: string
  refresh_token: string
}

export const tokens = {
  get access(): string | null {
    return sessionStorage.getItem(ACCESS)
  },
  get refresh(): string | null {
    return sessionStorage.getItem(REFRESH)
  },
  /** The company sent as `X-Company-ID`; null: the server's default. */
  get companyId(): number | null {
    const v = sessionStorage.getItem(COMPANY)
    return v ? Number(v) : null
  },
  set companyId(id: number | null) {
    if (id) sessionStorage.setItem(COMPANY, String(id))
    else sessionStorage.removeItem(COMPANY)
  },
  store(pair: TokenPair) {
    sessionStorage.setItem(ACCESS, pair.access_token)
    sessionStorage.setItem(REFRESH, pair.refresh_token)
  },
  clear() {
    sessionStorage.removeItem(ACCESS)
    sessionStorage.removeItem(REFRESH)
    sessionStorage.removeItem(COMPANY)
  },
}
