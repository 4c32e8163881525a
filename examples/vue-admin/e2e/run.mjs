// Browser tests of the admin app, served by fastvue-server under /admin/.
//
//   FASTVUE_BASE=http://127.0.0.1:8000 FASTVUE_ADMIN_EMAIL=... FASTVUE_ADMIN_PASSWORD=... \
//   SCREENSHOTS=/tmp/shots node e2e/run.mjs [scenario name filter]
//
// Each scenario is a function named after the behaviour it proves; the run exits non-zero
// when any fails. Setup creates, through the API as the superuser, the users, roles and
// the second company the scenarios need.
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import {
  ADMIN, APP, Api, PASSWORD, assert, input, launch, mailedLink, menuNames, newPage, sameSet, signIn, totp,
} from './lib.mjs'

const SHOTS = process.env.SCREENSHOTS ?? '/tmp/fastvue-admin-ui/screenshots'
const only = process.argv[2]
const tag = Date.now().toString(36)

// ---------------------------------------------------------------- setup (API) ----

async function roleId(admin, companyId, codename) {
  const page = await admin.must('GET', `/roles?company_id=${companyId}&page_size=100`)
  const role =
    page.items.find((r) => r.codename === codename && r.company_id === companyId) ??
    page.items.find((r) => r.codename === codename)
  assert(role, `role ${codename} in company ${companyId}`)
  return role.id
}

async function setup() {
  const admin = await Api.signIn(ADMIN.username, ADMIN.password)
  const companies = (await admin.must('GET', '/companies?page_size=100')).items
  const main = companies.find((c) => c.code === 'DEFAULT') ?? companies[0]
  assert(main, 'a seeded company')

  const newRole = (name, permissions) =>
    admin.must('POST', '/roles', { name, codename: `${name}-${tag}`, company_id: main.id, permissions })
  const newUser = (name, roleId, companyId = main.id) =>
    admin.must('POST', '/users', {
      username: `${name}-${tag}`,
      email: `${name}-${tag}@e2e.example.com`,
      password: PASSWORD,
      full_name: `E2E ${name}`,
      company_id: companyId,
      role_id: roleId,
    })

  const auditors = await newRole('auditors', ['audit.read', 'user.read'])
  const liveAudit = await newRole('live-audit', ['audit.read', 'user.read'])
  const viewer = await newUser('viewer', await roleId(admin, main.id, 'viewer'))
  const live = await newUser('live', liveAudit.id)
  const switcher = await newUser('switcher', auditors.id)

  const second = await admin.must('POST', '/companies', { name: `Second ${tag}`, code: `SEC-${tag}` })
  await admin.must('POST', `/users/${switcher.id}/roles`, {
    company_id: second.id,
    role_id: await roleId(admin, second.id, 'admin'),
  })
  const pw = await newUser('pw', auditors.id)
  // A user with a second factor: enrolled with a TOTP code, signs in with a recovery code.
  const mfa = await newUser('mfa', auditors.id)
  const mfaApi = await Api.signIn(mfa.username, PASSWORD)
  const { secret } = await mfaApi.must('POST', '/auth/2fa/setup', {})
  const { recovery_codes } = await mfaApi.must('POST', '/auth/2fa/confirm', { code: await totp(secret) })
  mfa.recoveryCode = recovery_codes[0]
  const reset = await newUser('reset', auditors.id)
  const totpUser = await newUser('totp', auditors.id)
  // A company that requires a second factor, and a member who has none yet.
  const strict = await admin.must('POST', '/companies', { name: `Strict ${tag}`, code: `STR-${tag}`, require_2fa: true })
  const enrol = await newUser('enrol', await roleId(admin, strict.id, 'viewer'), strict.id)
  return { admin, main, second, auditors, liveAudit, viewer, live, switcher, mfa, pw, reset, totpUser, strict, enrol }
}

// ------------------------------------------------------------------ scenarios ----

const ACCOUNT = ['account', 'sessions', 'profile']

async function passwordSignInLandsOnDashboard({ browser }) {
  const { context, page } = await newPage(browser)
  await signIn(page, ADMIN.username, ADMIN.password)
  assert(page.url() === `${APP}/`, `landed on ${page.url()}`)
  assert((await page.getByTestId('current-user').textContent()).trim().length > 0, 'user shown')
  await context.close()
}

async function viewerSeesOnlyItsMenuEntriesAndNoCreateButtons({ browser, data }) {
  const { context, page } = await newPage(browser)
  await signIn(page, data.viewer.username, PASSWORD)
  // The seeded viewer role holds every *.read (menu.read and apikey.read included).
  sameSet(
    await menuNames(page),
    ['dashboard', 'users', 'companies', 'roles', 'groups', 'permissions', 'menus', 'audit', 'api-keys', ...ACCOUNT],
    'viewer menu',
  )
  for (const [entry, pageId, button] of [
    ['users', 'users-page', 'user-create'],
    ['menus', 'menus-page', 'menu-create'],
    ['api-keys', 'api-keys-page', 'apikey-create'],
    ['roles', 'roles-page', 'role-create'],
  ]) {
    await page.locator(`[data-menu="${entry}"]`).click()
    await page.getByTestId(pageId).waitFor()
    await page.waitForTimeout(200)
    assert((await page.getByTestId(button).count()) === 0, `viewer sees no ${button} button`)
  }
  await context.close()
}

async function restrictedUserSeesItsEntriesAndA403Elsewhere({ browser, data }) {
  const { context, page } = await newPage(browser)
  await signIn(page, data.live.username, PASSWORD)
  sameSet(await menuNames(page), ['dashboard', 'users', 'audit', ...ACCOUNT], 'audit-reader menu')
  await page.goto(`${APP}/roles`)
  await page.getByTestId('forbidden').waitFor()
  await page.goto(`${APP}/no/such/page`)
  await page.getByTestId('not-found').waitFor()
  await context.close()
}

async function adminCreatesUserAndAssignsRole({ browser, data }) {
  const { context, page } = await newPage(browser)
  await signIn(page, ADMIN.username, ADMIN.password)
  await page.locator('[data-menu="users"]').click()
  await page.getByTestId('users-page').waitFor()
  const name = `created-${tag}`

  // A field error from the server's `details` shows next to its field.
  await page.getByTestId('user-create').click()
  await input(page, 'user-username').fill(name)
  await input(page, 'user-email').fill('not-an-email')
  await input(page, 'user-password').fill(PASSWORD)
  await pickOption(page, page.getByTestId('user-role'), `role-option-viewer`)
  await page.getByTestId('user-save').click()
  await page.locator('[data-testid=user-form] .el-form-item.is-error').first().waitFor()

  await input(page, 'user-email').fill(`${name}@e2e.example.com`)
  await page.getByTestId('user-save').click()
  await page.getByTestId('user-form').waitFor({ state: 'hidden' })

  await input(page, 'user-search').fill(name)
  await page.getByTestId('user-search-submit').click()
  await page.getByTestId(`user-roles-${name}`).click()
  await page.locator('[data-testid=assignments] .el-table__row').first().waitFor()
  await pickOption(page, page.getByTestId('assign-role'), 'role-option-manager')
  await page.getByTestId('assign-submit').click()
  await page.getByTestId('unassign-manager').waitFor()

  const user = (await data.admin.must('GET', `/users?search=${name}`)).items[0]
  const roles = await data.admin.must('GET', `/users/${user.id}/roles`)
  const codenames = (Array.isArray(roles) ? roles : roles.items).map((a) => a.role_codename)
  sameSet(codenames, ['viewer', 'manager'], 'roles of the created user')
  await context.close()
}

async function usersSortOnTheServerAcrossPages({ browser, data }) {
  // 25 users found by one search: by id (the default) the last of them is on page 2 of
  // 20; sorted by username descending on the server, it is the first row of page 1.
  const stem = `sort-${tag}`
  const names = Array.from({ length: 25 }, (_, i) => `${stem}-${String(i + 1).padStart(2, '0')}`)
  for (const username of names) {
    await data.admin.must('POST', '/users', { username, email: `${username}@e2e.example.com`, password: PASSWORD })
  }
  const { context, page } = await newPage(browser)
  await signIn(page, ADMIN.username, ADMIN.password)
  await page.locator('[data-menu="users"]').click()
  await page.getByTestId('users-page').waitFor()
  const rows = page.locator('[data-testid=users-table] .el-table__body-wrapper .el-table__row')
  const usersResponse = (test) =>
    page.waitForResponse((r) => r.url().includes('/api/v1/users?') && test(new URL(r.url()).searchParams))
  const firstRowIs = (username) => rows.first().filter({ hasText: username }).waitFor()

  await input(page, 'user-search').fill(stem)
  await page.getByTestId('user-search-submit').click()
  await firstRowIs(names[0])
  assert((await rows.count()) === 20, 'a page of 20 rows')
  // On page 2 first: a new sort starts again from page 1.
  await page.locator('[data-testid=users-page] .el-pager li', { hasText: /^2$/ }).click()
  await firstRowIs(names[20])

  // A click on the header's label (its middle may be the caret's descending half).
  const th = page.locator('[data-testid=users-table] .el-table__header th', { hasText: 'Username' })
  const clickHeader = () => th.click({ position: { x: 16, y: 20 } })
  let answered = usersResponse((q) => q.get('sort') === 'username')
  await clickHeader()
  await answered
  answered = usersResponse((q) => q.get('sort') === '-username')
  await clickHeader()
  const q = new URL((await answered).url()).searchParams
  assert(q.get('page') === '1' && q.get('search') === stem, `sorted from page 1 of the search (${q})`)
  await firstRowIs(names[24])
  const shown = await rows.locator('td:nth-child(2)').allTextContents()
  const expected = [...names].reverse().slice(0, 20)
  assert(JSON.stringify(shown.map((t) => t.trim())) === JSON.stringify(expected), `rows by username descending: ${shown}`)
  const active = (await page.locator('[data-testid=users-page] .el-pager li.is-active').textContent()).trim()
  assert(active === '1', `the pager is back on page 1 (${active})`)

  // A third click drops the sort: back to the server's default (by id).
  answered = usersResponse((q) => !q.has('sort'))
  await clickHeader()
  await answered
  await firstRowIs(names[0])
  await context.close()
}

async function fieldErrorsShowTranslatedCodes({ browser, data }) {
  const { context, page } = await newPage(browser)
  await signIn(page, ADMIN.username, ADMIN.password)
  // The server's English `message` of each detail is replaced on the way, so what the
  // form shows can only come from the detail's `code` and `params` (src/i18n/en.ts),
  // except for a code the table leaves to the server (`invalid`).
  // A user named `norole-...` is sent with a role that does not exist (`invalid`).
  let sentCodes = {}
  await page.route((url) => url.pathname === '/api/v1/users', async (route) => {
    if (route.request().method() !== 'POST') return route.continue()
    const sent = route.request().postDataJSON()
    if (sent.username.startsWith('norole-')) sent.role_id = 99_999_999
    const response = await route.fetch({ postData: JSON.stringify(sent) })
    const body = await response.json().catch(() => null)
    sentCodes = {}
    for (const d of body?.error?.details ?? []) {
      sentCodes[d.field] = d.code
      d.message = `server wording of ${d.code}`
    }
    await route.fulfill({ response, json: body })
  })
  const save = async () => {
    const answered = page.waitForResponse((r) => r.url().endsWith('/api/v1/users') && r.request().method() === 'POST')
    await page.getByTestId('user-save').click()
    await answered
  }
  await page.locator('[data-menu="users"]').click()
  await page.getByTestId('users-page').waitFor()
  await page.getByTestId('user-create').click()
  const fieldError = (testId) =>
    page.locator(`[data-testid=user-form] .el-form-item:has([data-testid="${testId}"]) .el-form-item__error`)
  const shows = async (testId, text) => {
    await fieldError(testId).filter({ hasText: text }).waitFor()
    const actual = (await fieldError(testId).textContent()).trim()
    assert(actual === text, `${testId} shows "${actual}", not "${text}"`)
  }

  // No role with the company: `required` (servers before v3 said `invalid`, which the
  // table leaves to the server's message).
  await input(page, 'user-username').fill('ab')
  await input(page, 'user-email').fill(`short-${tag}@e2e.example.com`)
  await input(page, 'user-password').fill(PASSWORD)
  await save()
  await shows('user-role', sentCodes.role_id === 'invalid' ? 'server wording of invalid' : 'is required')

  // `length` with params {min: 3, max: 100}.
  await pickOption(page, page.getByTestId('user-role'), 'role-option-viewer')
  await save()
  await shows('user-username', 'must be 3 to 100 characters')
  await fieldError('user-role').waitFor({ state: 'hidden' }) // the role error is gone

  // A 409 on a field: `taken`.
  await input(page, 'user-username').fill(`taken-${tag}`)
  await input(page, 'user-email').fill(data.viewer.email)
  await page.getByTestId('user-save').click()
  await shows('user-email', 'is already taken')
  await fieldError('user-username').waitFor({ state: 'hidden' }) // the username error is gone

  // A role that does not exist: `invalid`, not in the table, shows the server's message.
  await input(page, 'user-username').fill(`norole-${tag}`)
  await input(page, 'user-email').fill(`norole-${tag}@e2e.example.com`)
  await save()
  assert(sentCodes.role_id === 'invalid', `the server answered invalid on role_id (${JSON.stringify(sentCodes)})`)
  await shows('user-role', 'server wording of invalid')
  await context.close()
}

/** A screenshot of the page as it is, into the screenshot folder. */
async function shot(page, name) {
  mkdirSync(SHOTS, { recursive: true })
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true })
}

async function pickOption(page, select, optionTestId) {
  await select.click()
  await page.locator(`[data-testid="${optionTestId}"]:visible`).first().click()
}

async function menuEntryDisappearsLiveWhenAnAdminRemovesThePermission({ browser, data }) {
  const a = await newPage(browser)
  await signIn(a.page, data.live.username, PASSWORD)
  await a.page.locator('[data-menu="audit"]').waitFor()
  await a.page.evaluate(() => (window.__noReload = true))

  // The administrator, in another browser context, takes audit.read from the role on
  // the roles page.
  const b = await newPage(browser)
  await signIn(b.page, ADMIN.username, ADMIN.password)
  await b.page.locator('[data-menu="roles"]').click()
  await input(b.page, 'role-search').fill(data.liveAudit.codename)
  await b.page.getByTestId('role-search-submit').click()
  await b.page.getByTestId(`role-edit-${data.liveAudit.codename}`).click()
  const box = b.page.locator('[data-testid="perm-audit.read"]')
  await box.waitFor()
  assert(await box.locator('input').isChecked(), 'the role grants audit.read')
  await box.click()
  const saved = b.page.waitForResponse((r) => r.url().endsWith(`/roles/${data.liveAudit.id}/permissions`))
  await b.page.getByTestId('role-save').click()
  const status = (await saved).status()
  assert(status === 200, `PUT /roles/{id}/permissions answered ${status}`)
  const t0 = Date.now()
  await a.page.locator('[data-menu="audit"]').waitFor({ state: 'detached', timeout: 2000 })
  const ms = Date.now() - t0
  assert(await a.page.evaluate(() => window.__noReload === true), 'the page was not reloaded')
  sameSet(await menuNames(a.page), ['dashboard', 'users', ...ACCOUNT], 'menu after the change')
  console.log(`    audit entry gone ${ms} ms after the change`)
  await a.context.close()
  await b.context.close()
}

async function newMenuEntryAppearsLiveAndOpensNotAvailable({ browser, data }) {
  const { context, page } = await newPage(browser)
  await signIn(page, data.viewer.username, PASSWORD)
  const name = `reports-${tag}`
  const entry = await data.admin.must('POST', '/menus', {
    company_id: null,
    parent_id: null,
    name,
    path: `/${name}`,
    title: 'Reports',
    i18n_key: null,
    icon: 'Tickets',
    order: 85,
    permissions: ['audit.read'],
    permission_mode: 'any',
    is_active: true,
  })
  await page.locator(`[data-menu="${name}"]`).waitFor({ timeout: 2000 })
  await page.locator(`[data-menu="${name}"]`).click()
  await page.getByTestId('not-available').waitFor()
  assert(page.url() === `${APP}/${name}`, `at ${page.url()}`)
  await data.admin.must('DELETE', `/menus/${entry.id}`)
  await page.locator(`[data-menu="${name}"]`).waitFor({ state: 'detached', timeout: 2000 })
  await page.getByTestId('not-found').waitFor()
  await context.close()
}

async function adminCreatesGroupWithPermissionsAndAddsMember({ browser, data }) {
  const { context, page } = await newPage(browser)
  await signIn(page, ADMIN.username, ADMIN.password)
  await page.locator('[data-menu="groups"]').click()
  const codename = `ops-${tag}`
  await page.getByTestId('group-create').click()
  await input(page, 'group-name').fill(`Ops ${tag}`)
  await input(page, 'group-codename').fill(codename)
  await page.locator('[data-testid="perm-user.read"]').click()
  await page.locator('[data-testid="perm-group.read"]').click()
  await page.getByTestId('group-save').click()
  await page.getByTestId('group-form').waitFor({ state: 'hidden' })
  await input(page, 'group-search').fill(codename)
  await page.getByTestId('group-search-submit').click()
  await page.getByTestId(`group-members-${codename}`).click()
  await input(page, 'member-user').fill(data.viewer.username)
  await page.locator(`[data-testid="member-option-${data.viewer.username}"]:visible`).first().click()
  await page.getByTestId('member-add').click()
  await page.locator('[data-testid=group-members] .el-table__row', { hasText: data.viewer.username }).waitFor()

  const group = (await data.admin.must('GET', `/groups?search=${codename}`)).items[0]
  const detail = await data.admin.must('GET', `/groups/${group.id}`)
  sameSet(detail.permissions, ['group.read', 'user.read'], 'permissions of the new group')
  await context.close()
}

async function newApiKeyIsShownOnceThenListedByPrefix({ browser }) {
  const { context, page } = await newPage(browser)
  await signIn(page, ADMIN.username, ADMIN.password)
  await page.locator('[data-menu="api-keys"]').click()
  await page.getByTestId('apikey-create').click()
  await input(page, 'apikey-name').fill(`e2e key ${tag}`)
  await page.locator('[data-testid="perm-user.read"]:visible').click()
  await page.getByTestId('apikey-save').click()
  const key = await input(page, 'apikey-value').inputValue()
  assert(/^fv_live_[a-z0-9]{8}_/.test(key), `the new key is shown (${key.slice(0, 17)}...)`)
  const users = await new Api(key).call('GET', '/users?page_size=1')
  assert(users.status === 200, `the key works (${users.status})`)
  await page.keyboard.press('Escape')
  const row = page.locator('[data-testid=apikeys-table] .el-table__row', { hasText: `e2e key ${tag}` })
  await row.waitFor()
  const text = await row.textContent()
  assert(text.includes(key.split('_')[2]) && !text.includes(key), 'the list shows the prefix, never the key')
  await context.close()
}

async function passwordChangeShowsFieldErrorsAndKeepsTheUserSignedIn({ browser, data }) {
  const { context, page } = await newPage(browser)
  await signIn(page, data.pw.username, PASSWORD)
  await page.locator('[data-menu="profile"]').click()
  await input(page, 'pw-current').fill('wrong-password-1')
  await input(page, 'pw-new').fill('new-e2e-password-456')
  await input(page, 'pw-confirm').fill('new-e2e-password-456')
  await page.getByTestId('pw-submit').click()
  await page.locator('[data-testid=password-form] .el-form-item.is-error').first().waitFor()
  await input(page, 'pw-current').fill(PASSWORD)
  const oldRefresh = await page.evaluate(() => sessionStorage.getItem('fastvue.refresh'))
  await page.getByTestId('pw-submit').click()
  await page.locator('.el-message--success').waitFor()
  // The change ended every session; the app signed in again with the new password.
  const r = await new Api().call('POST', '/auth/refresh', { refresh_token: oldRefresh })
  assert(r.status === 401, `the old session ended (${r.status})`)
  await page.locator('[data-menu="sessions"]').click()
  await page.getByTestId('sessions-page').waitFor()
  await page.locator('[data-testid=sessions-table] .el-table__row').first().waitFor()
  await Api.signIn(data.pw.username, 'new-e2e-password-456')
  await context.close()
}

async function companySwitchChangesMenusAndCompanyHeader({ browser, data }) {
  const { context, page } = await newPage(browser)
  await signIn(page, data.switcher.username, PASSWORD)
  sameSet(await menuNames(page), ['dashboard', 'users', 'audit', ...ACCOUNT], 'menu in the first company')

  const sent = []
  page.on('request', (r) => {
    if (r.url().includes('/api/v1/')) sent.push({ url: r.url(), company: r.headers()['x-company-id'] })
  })
  await page.getByTestId('company-switcher').click()
  await page.getByTestId(`company-option-${data.second.id}`).click()
  await page.locator('[data-menu="roles"]').waitFor()
  const names = await menuNames(page)
  for (const n of ['roles', 'groups', 'menus', 'api-keys', 'companies']) assert(names.includes(n), `menu has ${n}`)

  await page.locator('[data-menu="users"]').click()
  await page.getByTestId('user-create').waitFor()
  const api = sent.filter((r) => !r.url.includes('/permissions/stream'))
  assert(api.length > 0, 'requests after the switch')
  for (const r of api) assert(r.company === String(data.second.id), `X-Company-ID ${r.company} on ${r.url}`)
  const stream = sent.find((r) => r.url.includes('/permissions/stream'))
  assert(stream?.url.includes(`company_id=${data.second.id}`), 'the stream follows the company')
  await context.close()
}

async function invalidTokenIsRefreshedOnceForConcurrentRequests({ browser }) {
  const { context, page } = await newPage(browser)
  await signIn(page, ADMIN.username, ADMIN.password)
  let refreshes = 0
  let unauthorized = 0
  page.on('request', (r) => {
    if (r.url().endsWith('/api/v1/auth/refresh')) refreshes++
  })
  page.on('response', (r) => {
    if (r.status() === 401 && r.url().includes('/api/v1/')) unauthorized++
  })
  await page.evaluate(() => sessionStorage.setItem('fastvue.access', 'not-a-valid-token'))
  await page.locator('[data-menu="users"]').click()
  await page.locator('[data-testid=users-table] .el-table__row').first().waitFor()
  assert(unauthorized >= 3, `at least 3 requests in flight got 401 (got ${unauthorized})`)
  assert(refreshes === 1, `exactly one refresh (got ${refreshes})`)
  console.log(`    ${unauthorized} requests answered 401, ${refreshes} refresh`)
  await context.close()
}

async function logoutReturnsToSignInAndEndsTheRefreshToken({ browser }) {
  const { context, page } = await newPage(browser)
  await signIn(page, ADMIN.username, ADMIN.password)
  const refresh = await page.evaluate(() => sessionStorage.getItem('fastvue.refresh'))
  assert(refresh, 'a refresh token is kept')
  await page.getByTestId('sign-out').click()
  await page.getByTestId('login-submit').waitFor()
  assert(page.url().startsWith(`${APP}/login`), `back at ${page.url()}`)
  const r = await new Api().call('POST', '/auth/refresh', { refresh_token: refresh })
  assert(r.status === 401, `refresh after logout answered ${r.status}`)
  await context.close()
}

async function screenshotsOfEveryPageAndUsersTimeToInteractive({ browser }) {
  mkdirSync(SHOTS, { recursive: true })
  const { context, page } = await newPage(browser)
  await signIn(page, ADMIN.username, ADMIN.password)
  const pages = [
    ['dashboard', '/', 'dashboard'],
    ['users', '/users', 'users-page'],
    ['companies', '/companies', 'companies-page'],
    ['roles', '/roles', 'roles-page'],
    ['groups', '/groups', 'groups-page'],
    ['permissions', '/permissions', 'permissions-page'],
    ['menus', '/menus', 'menus-page'],
    ['audit', '/audit', 'audit-page'],
    ['api-keys', '/api-keys', 'api-keys-page'],
    ['sessions', '/account/sessions', 'sessions-page'],
    ['profile', '/account/profile', 'profile-page'],
  ]
  for (const [name, path, testId] of pages) {
    // The dashboard through the sidebar: a direct load of /admin/ is its own scenario.
    if (path === '/') await page.locator('[data-menu="dashboard"]').click()
    else await page.goto(`${APP}${path}`)
    await page.getByTestId(testId).waitFor()
    await page.waitForFunction(() => !document.querySelector('.el-loading-mask:not([style*="display: none"])'))
    await page.waitForTimeout(150)
    await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true })
  }

  // Time to interactive of the users page: navigation start to a table with rows.
  await page.goto(`${APP}/users`)
  const tti = await page.waitForFunction(
    () => document.querySelector('[data-testid=users-table] .el-table__row') && performance.now(),
    null,
    { polling: 'raf' },
  )
  const ms = Math.round(await tti.jsonValue())
  console.log(`TTI users page: ${ms} ms`)
  await context.close()
}

async function secondFactorStepCompletesTheSignIn({ browser, data }) {
  const { context, page } = await newPage(browser)
  await page.goto(`${APP}/login`)
  await input(page, 'login-username').fill(data.mfa.username)
  await input(page, 'login-password').fill(PASSWORD)
  await page.getByTestId('login-submit').click()
  await page.getByTestId('login-code-submit').waitFor()
  // A wrong code shows its error next to the field; a recovery code signs in.
  await input(page, 'login-code').fill('000000')
  await page.getByTestId('login-code-submit').click()
  await page.locator('.el-form-item.is-error, [data-testid=login-error]').first().waitFor()
  await page.getByTestId('login-use-recovery').click()
  await input(page, 'login-code').fill(data.mfa.recoveryCode)
  await page.getByTestId('login-code-submit').click()
  await page.getByTestId('dashboard').waitFor()
  await context.close()
}

async function dashboardUrlLoadsTheApp({ browser }) {
  const { context, page } = await newPage(browser)
  await signIn(page, ADMIN.username, ADMIN.password)
  // A reload of the dashboard (the app's root, /admin/) must serve index.html.
  await page.goto(`${APP}/`)
  await page.getByTestId('dashboard').waitFor()
  await context.close()
}

async function forgottenPasswordIsResetThroughTheMailedLink({ browser, data }) {
  const { context, page } = await newPage(browser)
  await page.goto(`${APP}/login`)
  await page.getByTestId('login-forgot').click()
  await input(page, 'forgot-email').fill(data.reset.email)
  await page.getByTestId('forgot-submit').click()
  await page.getByTestId('forgot-sent').waitFor()
  await shot(page, 'forgot-password')

  const link = await mailedLink(data.reset.email, 'reset-password')
  assert(link.startsWith(`${APP}/reset-password?token=`), `the link opens the app (${link.split('?')[0]})`)
  await page.goto(link)
  await page.getByTestId('reset-form').waitFor()
  await page.waitForURL((url) => !url.searchParams.has('token')) // dropped from the address bar
  const password = 'reset-e2e-password-789'
  await shot(page, 'reset-password')
  await input(page, 'reset-new').fill(password)
  await input(page, 'reset-confirm').fill(password)
  await page.getByTestId('reset-submit').click()
  await page.getByTestId('login-submit').waitFor()
  assert(page.url().startsWith(`${APP}/login`), `back at sign-in (${page.url()})`)
  await signIn(page, data.reset.username, password)
  // The link worked once.
  const again = await new Api().call('POST', '/auth/password/reset', {
    token: new URL(link).searchParams.get('token'),
    new_password: 'another-password-123',
  })
  assert(again.status === 422, `a used link answers 422 (${again.status})`)
  await context.close()
}

async function invitationIsAcceptedThroughTheMailedLink({ browser, data }) {
  const email = `invited-${tag}@e2e.example.com`
  await data.admin.must('POST', `/companies/${data.second.id}/invitations`, {
    email,
    role_id: await roleId(data.admin, data.second.id, 'viewer'),
  })
  const link = await mailedLink(email, 'accept-invitation')
  const { context, page } = await newPage(browser)
  await page.goto(link)
  await page.getByTestId('invitation-company').filter({ hasText: data.second.name }).waitFor()
  const role = (await page.getByTestId('invitation-role').textContent()).trim()
  assert(/viewer/i.test(role), `the role is shown (${role})`)
  const username = `invited-${tag}`
  await shot(page, 'accept-invitation')
  await input(page, 'invitation-username').fill(username)
  await input(page, 'invitation-password').fill(PASSWORD)
  await input(page, 'invitation-confirm').fill(PASSWORD)
  await page.getByTestId('invitation-accept').click()
  await page.getByTestId('login-submit').waitFor()
  assert((await input(page, 'login-username').inputValue()) === username, 'the sign-in page knows the username')
  await input(page, 'login-password').fill(PASSWORD)
  await page.getByTestId('login-submit').click()
  await page.getByTestId('dashboard').waitFor()
  await page.getByTestId('company-switcher').filter({ hasText: data.second.name }).waitFor()
  await context.close()
}

async function twoFactorIsSetUpInTheProfileAndAskedAtTheNextSignIn({ browser, data }) {
  const { context, page } = await newPage(browser)
  const user = data.totpUser
  await signIn(page, user.username, PASSWORD)
  await page.locator('[data-menu="profile"]').click()
  await page.getByTestId('two-factor-setup').click()
  const secret = (await page.getByTestId('totp-secret').textContent()).trim()
  assert(/^[A-Z2-7]+=*$/.test(secret), `a base32 secret is shown (${secret})`)
  const uri = (await page.getByTestId('totp-uri').textContent()).trim()
  assert(uri.startsWith('otpauth://totp/') && uri.includes(`secret=${secret}`), `the otpauth URI is shown (${uri})`)
  assert(await page.getByTestId('totp-qr').evaluate((img) => img.complete && img.naturalWidth > 0), 'the QR code shows')
  // A wrong code first: its error shows next to the field.
  await input(page, 'totp-code').fill('000000')
  await page.getByTestId('totp-confirm').click()
  await page.locator('[data-testid=totp-enrol] .el-form-item.is-error').waitFor()
  await input(page, 'totp-code').fill(await totp(secret))
  await page.getByTestId('totp-confirm').click()
  await page.getByTestId('recovery-codes').waitFor()
  await shot(page, 'profile-two-factor-codes')
  const codes = await page.getByTestId('recovery-code').allTextContents()
  assert(codes.length === 10, `10 recovery codes shown once (${codes.length})`)
  await page.getByTestId('recovery-codes-done').click()
  await page.getByTestId('two-factor-state').filter({ hasText: /^\s*On since/ }).waitFor()
  await page.getByTestId('sign-out').click()

  // The next sign-in asks for a code. The code just used is spent: the app's next one
  // (the server accepts one step of drift) is the earliest that works.
  await input(page, 'login-username').fill(user.username)
  await input(page, 'login-password').fill(PASSWORD)
  await page.getByTestId('login-submit').click()
  await input(page, 'login-code').fill(await totp(secret, Date.now() + 30_000))
  await page.getByTestId('login-code-submit').click()
  await page.getByTestId('dashboard').waitFor()

  // Turned off again with the password and a recovery code.
  await page.locator('[data-menu="profile"]').click()
  await input(page, 'two-factor-password').fill(PASSWORD)
  await input(page, 'two-factor-code').fill(codes[0].trim().toUpperCase())
  await page.getByTestId('two-factor-disable').click()
  await page.getByTestId('two-factor-setup').waitFor()
  const step = await new Api().must('POST', '/auth/login', { username: user.username, password: PASSWORD })
  assert(step.access_token && !step.mfa_required, 'sign-in asks for no code any more')
  await context.close()
}

async function changedEmailIsVerifiedThroughTheMailedLink({ browser, data }) {
  // An administrator changes the address: the new one is unproven and gets a link.
  const user = await data.admin.must('POST', '/users', {
    username: `verify-${tag}`,
    email: `verify-${tag}@e2e.example.com`,
    password: PASSWORD,
  })
  const email = `changed-${tag}@e2e.example.com`
  await data.admin.must('PATCH', `/users/${user.id}`, { email })
  const link = await mailedLink(email, 'verify-email')
  const { context, page } = await newPage(browser)
  await page.goto(link)
  await page.getByTestId('verify-done').waitFor()
  await shot(page, 'verify-email')
  // The link worked once: opened again, it says so.
  await page.goto(link)
  await page.getByTestId('public-error').waitFor()
  await context.close()
}

async function companyRequiringTwoFactorEnrolsTheMemberAtSignIn({ browser, data }) {
  const { context, page } = await newPage(browser)
  await page.goto(`${APP}/login`)
  await input(page, 'login-username').fill(data.enrol.username)
  await input(page, 'login-password').fill(PASSWORD)
  await page.getByTestId('login-submit').click()
  await page.getByTestId('login-enrol').waitFor()
  const secret = (await page.getByTestId('totp-secret').textContent()).trim()
  await page.getByTestId('totp-qr').evaluate((img) => img.decode())
  await shot(page, 'login-two-factor-enrolment')
  await input(page, 'totp-code').fill(await totp(secret))
  await page.getByTestId('totp-confirm').click()
  await page.getByTestId('recovery-codes').waitFor()
  assert((await page.getByTestId('recovery-code').count()) === 10, '10 recovery codes')
  await page.getByTestId('recovery-codes-done').click()
  await page.getByTestId('dashboard').waitFor()
  const status = await (await Api.signInWithCode(data.enrol.username, PASSWORD, await totp(secret, Date.now() + 30_000)))
    .must('GET', '/auth/2fa')
  assert(status.enabled && status.required, `enrolled (${JSON.stringify(status)})`)
  await context.close()
}

const scenarios = [
  passwordSignInLandsOnDashboard,
  secondFactorStepCompletesTheSignIn,
  dashboardUrlLoadsTheApp,
  viewerSeesOnlyItsMenuEntriesAndNoCreateButtons,
  restrictedUserSeesItsEntriesAndA403Elsewhere,
  invalidTokenIsRefreshedOnceForConcurrentRequests,
  logoutReturnsToSignInAndEndsTheRefreshToken,
  menuEntryDisappearsLiveWhenAnAdminRemovesThePermission,
  newMenuEntryAppearsLiveAndOpensNotAvailable,
  adminCreatesUserAndAssignsRole,
  usersSortOnTheServerAcrossPages,
  fieldErrorsShowTranslatedCodes,
  adminCreatesGroupWithPermissionsAndAddsMember,
  newApiKeyIsShownOnceThenListedByPrefix,
  passwordChangeShowsFieldErrorsAndKeepsTheUserSignedIn,
  companySwitchChangesMenusAndCompanyHeader,
  forgottenPasswordIsResetThroughTheMailedLink,
  invitationIsAcceptedThroughTheMailedLink,
  twoFactorIsSetUpInTheProfileAndAskedAtTheNextSignIn,
  changedEmailIsVerifiedThroughTheMailedLink,
  companyRequiringTwoFactorEnrolsTheMemberAtSignIn,
  screenshotsOfEveryPageAndUsersTimeToInteractive,
]

// ----------------------------------------------------------------------- run ----

const data = await setup()
const browser = await launch()
const failures = []
for (const scenario of scenarios) {
  if (only && !scenario.name.toLowerCase().includes(only.toLowerCase())) continue
  const t0 = Date.now()
  try {
    await scenario({ browser, data })
    console.log(`ok    ${scenario.name} (${Date.now() - t0} ms)`)
  } catch (err) {
    failures.push(scenario.name)
    console.log(`FAIL  ${scenario.name} (${Date.now() - t0} ms)\n      ${String(err?.stack ?? err).split('\n').slice(0, 4).join('\n      ')}`)
  }
}
await browser.close()
console.log(`e2e: screenshots in ${SHOTS}`)
if (failures.length) {
  console.log(`${failures.length} scenario(s) failed: ${failures.join(', ')}`)
  process.exit(1)
}
console.log('all scenarios passed')
