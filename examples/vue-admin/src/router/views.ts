// The views this app knows, by the menu path that leads to them. A menu entry whose path
// is not here opens the "not available" view; a path here that is not in the user's
// menu tree opens the 403 view.
import type { RouteComponent } from 'vue-router'

type Lazy = () => Promise<RouteComponent>

export const knownViews: Record<string, Lazy> = {
  '/': () => import('@/views/DashboardView.vue'),
  '/users': () => import('@/views/UsersView.vue'),
  '/companies': () => import('@/views/CompaniesView.vue'),
  '/roles': () => import('@/views/RolesView.vue'),
  '/groups': () => import('@/views/GroupsView.vue'),
  '/permissions': () => import('@/views/PermissionsView.vue'),
  '/menus': () => import('@/views/MenusView.vue'),
  '/audit': () => import('@/views/AuditView.vue'),
  '/api-keys': () => import('@/views/ApiKeysView.vue'),
  '/account/sessions': () => import('@/views/SessionsView.vue'),
  '/account/profile': () => import('@/views/ProfileView.vue'),
}
