// Field errors of a form, from an error body's `details` (`{field, code, message,
// params}`), worded by src/i18n from `code` and `params`: bind `:error="errors.email"` on
// each `el-form-item`. A detail naming no field of the form (or none at all) becomes the
// form's general message.
import { reactive, ref } from 'vue'
import { ApiError, describe } from '@/api/errors'
import { fieldMessage } from '@/i18n'

export function useFormErrors(fields: readonly string[]) {
  const errors = reactive<Record<string, string>>({})
  const general = ref('')

  function clear() {
    for (const k of Object.keys(errors)) delete errors[k]
    general.value = ''
  }

  /** Shows `err`: its details next to their fields, anything else as `general`. */
  function show(err: unknown) {
    clear()
    const rest: string[] = []
    if (err instanceof ApiError) {
      for (const d of err.details) {
        // `permissions[2]` belongs to the `permissions` field.
        const field = d.field.replace(/\[\d+\]$/, '')
        const text = fieldMessage(d)
        if (fields.includes(field)) errors[field] = errors[field] ? `${errors[field]}; ${text}` : text
        else rest.push(`${d.field}: ${text}`)
      }
    }
    general.value = rest.length ? `${describe(err)} (${rest.join('; ')})` : describe(err)
    if (err instanceof ApiError && err.details.length && !rest.length) general.value = ''
  }

  return { errors, general, clear, show }
}
