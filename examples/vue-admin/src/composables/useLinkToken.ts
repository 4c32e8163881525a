// The single-use token of a mailed link (`{PUBLIC_URL}/reset-password?token=...`), read
// once from the query and then dropped from the address bar (and so from the history).
import { useRoute, useRouter } from 'vue-router'

export function useLinkToken(): string {
  const route = useRoute()
  const token = typeof route.query.token === 'string' ? route.query.token : ''
  if (token) void useRouter().replace({ query: { ...route.query, token: undefined } })
  return token
}
