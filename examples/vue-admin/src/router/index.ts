import { createRouter, createWebHistory, type RouteRecordRaw } from 'vue-router'
import type { MenuNode } from '@/api/types'
import { useAccessStore } from '@/stores/access'
import { useSessionStore } from '@/stores/session'
import { knownViews } from './views'

declare module 'vue-router' {
  interface RouteMeta {
    /** Public page (no session needed). */
    public?: boolean
    /** The menu path whose entry must be in the user's tree (else the 403 view). */
    menuPath?: string
  }
}

const LAYOUT = 'layout'
const MENU_ROUTE = 'menu:'

const known: RouteRecordRaw[] = Object.entries(knownViews).map(([path, component]) => ({
  path: path.slice(1),
  name: `view:${path}`,
  component,
  meta: { menuPath: path },
}))

export const router = createRouter({
  history: createWebHistory(import.meta.env.BASE_URL),
  routes: [
    {
      path: '/login',
      name: 'login',
      component: () => import('@/views/LoginView.vue'),
      meta: { public: true },
    },
    // The pages of mailed links ({PUBLIC_URL}/reset-password?token=...) and "forgot password".
    ...(
      [
        ['/forgot-password', 'forgot-password', () => import('@/views/ForgotPasswordView.vue')],
        ['/reset-password', 'reset-password', () => import('@/views/ResetPasswordView.vue')],
        ['/verify-email', 'verify-email', () => import('@/views/VerifyEmailView.vue')],
        ['/accept-invitation', 'accept-invitation', () => import('@/views/AcceptInvitationView.vue')],
      ] as const
    ).map(([path, name, component]) => ({ path, name, component, meta: { public: true } })),
    {
      path: '/',
      name: LAYOUT,
      component: () => import('@/components/AppLayout.vue'),
      children: [
        ...known,
        {
          path: ':pathMatch(.*)*',
          name: 'not-found',
          component: () => import('@/views/NotFoundView.vue'),
        },
      ],
    },
  ],
})

function menuPaths(nodes: MenuNode[], into: string[] = []): string[] {
  for (const n of nodes) {
    if (n.path) into.push(n.path)
    menuPaths(n.children, into)
  }
  return into
}

/**
 * Routes for the menu entries no known view serves: they open the "not available" view.
 * Called whenever the menu tree changes; answers whether the routes changed.
 */
export function syncMenuRoutes(menus: MenuNode[]): boolean {
  const wanted = new Set(menuPaths(menus).filter((p) => !(p in knownViews)))
  let changed = false
  for (const r of router.getRoutes()) {
    const name = String(r.name ?? '')
    if (name.startsWith(MENU_ROUTE) && !wanted.has(name.slice(MENU_ROUTE.length))) {
      router.removeRoute(name)
      changed = true
    }
  }
  for (const path of wanted) {
    if (router.hasRoute(MENU_ROUTE + path)) continue
    router.addRoute(LAYOUT, {
      path: path.replace(/^\//, ''),
      name: MENU_ROUTE + path,
      component: () => import('@/views/NotAvailableView.vue'),
      meta: { menuPath: path },
    })
    changed = true
  }
  return changed
}

router.beforeEach(async (to) => {
  const session = useSessionStore()
  if (to.meta.public) return true
  if (!(await session.restore())) {
    return { name: 'login', query: to.fullPath === '/' ? {} : { redirect: to.fullPath } }
  }
  // The first navigation runs before the menu routes exist: resolve it again.
  if (syncMenuRoutes(useAccessStore().menus) && to.name === 'not-found') return to.fullPath
  return true
})
