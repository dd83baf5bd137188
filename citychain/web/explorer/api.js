// The node's JSON API as the explorer reads it: through dom.js's getJson, with u64 integers
// kept exact, and failures as ApiError (the view that shows them reads the HTTP status).

import { getJson } from "/static/dom.js";

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** The JSON body of GET ``path``; ApiError(status, message) on failure (status 0: no answer). */
export async function api(path) {
  try {
    return await getJson(path, { exact: true });
  } catch (error) {
    throw new ApiError(error.status ?? 0, error.message);
  }
}
