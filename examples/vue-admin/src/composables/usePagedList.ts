// A numbered page of a list route (`{items, total, page, page_size, pages}`) with its
// filters, loading flag and error.
import { reactive, ref, shallowRef, type Ref } from 'vue'
import { describe } from '@/api/errors'

export interface Page<T> {
  items: T[]
  total: number
  page: number
  page_size: number
  pages: number
}

export function usePagedList<T, F extends object>(
  fetchPage: (query: F & { page: number; page_size: number }) => Promise<Page<T>>,
  filters: F,
  pageSize = 20,
) {
  const items = shallowRef<T[]>([]) as Ref<T[]>
  const total = ref(0)
  const loading = ref(false)
  const error = ref('')
  const state = reactive({ page: 1, pageSize })
  let seq = 0

  async function load() {
    const mine = ++seq
    loading.value = true
    error.value = ''
    try {
      const query = { ...filters, page: state.page, page_size: state.pageSize }
      const page = await fetchPage(query)
      if (mine !== seq) return
      items.value = page.items
      total.value = page.total
    } catch (err) {
      if (mine === seq) error.value = describe(err)
    } finally {
      if (mine === seq) loading.value = false
    }
  }

  /** Back to page 1 (after a filter changed). */
  function search() {
    state.page = 1
    return load()
  }

  return { items, total, loading, error, state, load, search }
}
