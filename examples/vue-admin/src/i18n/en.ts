// English field messages, keyed by the `code` of an error body's detail; `{name}` is
// filled from the detail's `params`. Where a code lists several templates, the first
// whose params are all present is used (`range` may name only `min`). `invalid` is not
// here on purpose: it covers anything else, and its message is the server's.
import type { FieldMessages } from './index'

export default {
  required: 'is required',
  length: [
    'must be {min} to {max} characters',
    'must be at least {min} characters',
    'must be at most {max} characters',
  ],
  characters: 'may contain only the characters {allowed}',
  control_characters: 'must not contain control characters',
  format: 'must look like {expected}',
  email: 'must be an email address like name@example.com',
  range: ['must be between {min} and {max}', 'must be at least {min}', 'must be at most {max}'],
  too_many: 'may list at most {max}',
  unknown: '{value} does not exist',
  taken: 'is already taken',
  unknown_field: 'is not a field of this request',
  type: 'has the wrong type',
} satisfies FieldMessages
