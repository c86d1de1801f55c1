// ApiError is what every failed request throws: the HTTP status (0 when the
// server could not be reached), the API's message and its validation list.
export class ApiError extends Error {
  constructor(status, message, data = []) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.data = data;
  }

  // fieldErrors maps each field named by the API's validation list
  // (data[].param, or data[].path in newer express-validator) to its first message.
  fieldErrors() {
    const out = {};
    for (const item of this.data) {
      const field = item && (item.param || item.path);
      if (field && item.msg && !out[field]) out[field] = item.msg;
    }
    return friendlyFields(out);
  }
}

// Messages for the fields whose API rule only says "Invalid value" (the
// express-validator default the original API answers with).
const fieldHints = {
  password: 'Use at least 5 characters.',
  name: 'Please enter your name.',
  title: 'Use at least 5 characters.',
  content: 'Use at least 5 characters.',
  status: 'Please enter a status.',
};

// friendlyFields replaces a bare "Invalid value" with what the field needs;
// any other message from the API is shown as it is.
export function friendlyFields(fields) {
  const out = {};
  for (const [field, msg] of Object.entries(fields)) {
    out[field] = /^invalid value\.?$/i.test(msg) && fieldHints[field] ? `${msg}: ${fieldHints[field].toLowerCase()}` : msg;
  }
  return out;
}
