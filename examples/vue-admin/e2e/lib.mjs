// Helpers of the browser tests: the API as the test's superuser, and the browser.
import { chromium } from 'playwright-core'

export const BASE = (process.env.FASTVUE_BASE ?? 'http://127.0.0.1:8000').replace(/\/$/, '')
export const APP = `${BASE}/admin`
export const ADMIN = {
  username: process.env.FASTVUE_ADMIN_EMAIL ?? 'admin@example.com',
  password: process.env.FASTVUE_ADMIN_PASSWORD ?? 'admin-password-123',
}
export const PASSWORD = 'e2e-password-123'

export class Api {
  constructor(token = null, company = null) {
    this.token = token
    this.company = company
  }
  async call(method, path, body, extraHeaders = {}) {
    const headers = { ...extraHeaders }
    if (this.token) headers.Authorization = `Bearer ${this.token}`
    if (this.company) headers['X-Company-ID'] = String(this.company)
    if (body !== undefined) headers['Content-Type'] = 'application/json'
    const res = await fetch(`${BASE}/api/v1${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    })
    const text = await res.text()
    let json = null
    try {
      json = text ? JSON.parse(text) : null
    } catch {
      json = text
    }
    return { status: res.status, body: json, headers: res.headers }
  }
  async must(method, path, body, expected = [200, 201, 204]) {
    const r = await this.call(method, path, body)
    if (!expected.includes(r.status)) {
      throw new Error(`${method} ${path} -> ${r.status} ${JSON.stringify(r.body)}`)
    }
    return r.body
  }
  static async signIn(username, password) {
    const api = new Api()
    const body = await api.must('POST', '/auth/login', { username, password })
    api.token = body.access_token
    api.refresh = body.refresh_token
    return api
  }
  /** Signs in with a password and a TOTP code (a user with a second factor). */
  static async signInWithCode(username, password, code) {
    const api = new Api()
    const step = await api.must('POST', '/auth/login', { username, password })
    const body = await api.must('POST', '/auth/login/2fa', { mfa_token: step.mfa_token, code })
    api.token = body.access_token
    api.refresh = body.refresh_token
    return api
  }
}

export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  })
}

/** A fresh browser context and page, failing the scenario on any page error. */
export async function newPage(browser) {
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } })
  const page = await context.newPage()
  page.setDefaultTimeout(10_000)
  const errors = []
  page.on('pageerror', (e) => errors.push(e))
  page.pageErrors = errors
  return { context, page }
}

/** Signs in through the sign-in page and waits for the dashboard. */
export async function signIn(page, username, password) {
  await page.goto(`${APP}/login`)
  await input(page, 'login-username').fill(username)
  await input(page, 'login-password').fill(password)
  await page.getByTestId('login-submit').click()
  await page.getByTestId('dashboard').waitFor()
}

/** The `data-menu` names of the sidebar's entries (sections and links). */
export async function menuNames(page) {
  return page.locator('[data-testid=side-menu] [data-menu]').evaluateAll((els) =>
    els.map((e) => e.getAttribute('data-menu')),
  )
}

export function assert(cond, message) {
  if (!cond) throw new Error(`assertion failed: ${message}`)
}

export function sameSet(actual, expected, what) {
  const a = [...actual].sort()
  const e = [...expected].sort()
  assert(JSON.stringify(a) === JSON.stringify(e), `${what}: expected ${e.join(',')}, got ${a.join(',')}`)
}

/** The text input of an Element Plus field (its data-testid may sit on the input itself). */
export function input(page, testId) {
  return page.locator(`input[data-testid="${testId}"], [data-testid="${testId}"] input`).first()
}

/** The current TOTP code (RFC 6238, SHA-1, 6 digits, 30 s) of a base32 secret. */
export async function totp(secret, at = Date.now()) {
  const { createHmac } = await import('node:crypto')
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'
  let bits = ''
  for (const c of secret.replace(/=+$/, '').toUpperCase()) bits += alphabet.indexOf(c).toString(2).padStart(5, '0')
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)))
  const counter = Buffer.alloc(8)
  counter.writeBigUInt64BE(BigInt(Math.floor(at / 30_000)))
  const h = createHmac('sha1', key).update(counter).digest()
  const o = h[h.length - 1] & 15
  return String((h.readUInt32BE(o) & 0x7fffffff) % 1_000_000).padStart(6, '0')
}

/** A quoted-printable body decoded (soft line breaks joined, `=XX` bytes as UTF-8). */
export function decodeQuotedPrintable(text) {
  const joined = text.replace(/=\r?\n/g, '')
  const bytes = []
  for (let i = 0; i < joined.length; i++) {
    const hex = joined[i] === '=' && /^[0-9A-Fa-f]{2}$/.test(joined.slice(i + 1, i + 3)) ? joined.slice(i + 1, i + 3) : null
    if (hex) {
      bytes.push(parseInt(hex, 16))
      i += 2
    } else bytes.push(...Buffer.from(joined[i]))
  }
  return Buffer.from(bytes).toString('utf8')
}

/**
 * The link to `{PUBLIC_URL}/<page>?token=` in the newest mail to `to` that the server
 * wrote to its outbox (`MAIL_OUTBOX_DIR`, no SMTP), waiting up to 10 s for it to appear.
 */
export async function mailedLink(to, page) {
  const { readdir, readFile } = await import('node:fs/promises')
  const dir = process.env.MAIL_OUTBOX_DIR
  assert(dir, 'MAIL_OUTBOX_DIR names the server outbox')
  const deadline = Date.now() + 10_000
  for (;;) {
    const names = (await readdir(dir).catch(() => [])).filter((n) => n.endsWith('.eml')).sort().reverse()
    for (const name of names) {
      const raw = await readFile(`${dir}/${name}`, 'utf8')
      const split = raw.search(/\r?\n\r?\n/)
      const headers = raw.slice(0, split)
      if (!new RegExp(`^To:.*${to.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`, 'im').test(headers)) continue
      const qp = /^Content-Transfer-Encoding:\s*quoted-printable/im.test(headers)
      const body = qp ? decodeQuotedPrintable(raw.slice(split)) : raw.slice(split)
      const link = body.match(new RegExp(`https?://\\S+/${page}\\?token=[^\\s"<>]+`))
      if (link) return link[0]
    }
    assert(Date.now() < deadline, `a mail to ${to} with a /${page} link in ${dir}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}
