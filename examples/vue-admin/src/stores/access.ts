// What the signed-in user may see and do in the active company: its permission set and
// its menu tree, both revalidated with their ETags.
import { defineStore } from 'pinia'
import { computed, ref, shallowRef } from 'vue'
import { api, ok } from '@/api/client'
import type { MenuNode, MyMenus, MyPermissions } from '@/api/types'

function collectPaths(nodes: MenuNode[], into: Set<string>): Set<string> {
  for (const n of nodes) {
    if (n.path) into.add(n.path)
    collectPaths(n.children, into)
  }
  return into
}

export const useAccessStore = defineStore('access', () => {
  const permissions = shallowRef(new Set<string>())
  const isSuperuser = ref(false)
  const companyId = ref<number | null>(null)
  const permissionsEtag = ref<string | null>(null)
  const menus = shallowRef<MenuNode[]>([])
  const menusEtag = ref<string | null>(null)

  const menuPaths = computed(() => collectPaths(menus.value, new Set()))

  /** Whether the user holds `codename` in the active company (buttons, not protection). */
  function can(codename: string): boolean {
    return isSuperuser.value || permissions.value.has(codename)
  }

  /** Whether the user's menu tree has an entry for `path`. */
  function hasMenuPath(path: string): boolean {
    return menuPaths.value.has(path)
  }

  function applyPermissions(body: MyPermissions, etag: string | null) {
    permissions.value = new Set(body.permissions)
    isSuperuser.value = body.is_superuser
    companyId.value = body.company_id
    permissionsEtag.value = etag
  }

  function applyMenus(body: MyMenus, etag: string | null) {
    menus.value = body.items
    menusEtag.value = etag
  }

  async function refreshPermissions() {
    const headers: Record<string, string> = {}
    if (permissionsEtag.value) headers['If-None-Match'] = permissionsEtag.value
    const r = await api.GET('/api/v1/auth/me/permissions', { headers })
    if (r.response.status === 304) return
    applyPermissions(ok(r), r.response.headers.get('ETag'))
  }

  async function refreshMenus() {
    const headers: Record<string, string> = {}
    if (menusEtag.value) headers['If-None-Match'] = menusEtag.value
    const r = await api.GET('/api/v1/auth/me/menus', { headers })
    if (r.response.status === 304) return
    applyMenus(ok(r), r.response.headers.get('ETag'))
  }

  function reset() {
    permissions.value = new Set()
    isSuperuser.value = false
    companyId.value = null
    permissionsEtag.value = null
    menus.value = []
    menusEtag.value = null
  }

  return {
    permissions,
    isSuperuser,
    companyId,
    permissionsEtag,
    menus,
    menusEtag,
    menuPaths,
    can,
    hasMenuPath,
    applyPermissions,
    applyMenus,
    refreshPermissions,
    refreshMenus,
    reset,
  }
})
