/**
 * The API as the page uses it: the same /v1 routes as any client, same origin. Every error body
 * the server sends is `{"error": {message, type, code, param}}`; `ApiError` carries those, so the
 * page can put each message next to the field it is about. The API key, when the server has
 * keys, lives in sessionStorage: it survives a reload of this tab and nothing longer.
 */

const KEY_STORAGE = "leadline.apiKey";

export class ApiError extends Error {
  constructor(status, message, code = null, param = null) {
    super(message);
    this.status = status;
    this.code = code;
    this.param = param;
  }

  /** The server could not be reached at all (status 0). */
  get offline() {
    return this.status === 0;
  }

  static async from(response) {
    let body = null;
    try {
      body = await response.json();
    } catch {
      // not JSON: a proxy's page, say; the status line is all there is
    }
    const error = body && body.error ? body.error : {};
    const message = error.message || `HTTP ${response.status} ${response.statusText}`;
    return new ApiError(response.status, message, error.code || null, error.param || null);
  }

  static offlineError(cause) {
    return new ApiError(
      0,
      `cannot reach the leadline server at ${location.host}: is \`leadline serve\` still running? (${cause.message})`,
      "unreachable",
    );
  }
}

export class Api {
  constructor() {
    this.key = sessionStorage.getItem(KEY_STORAGE) || "";
  }

  setKey(key) {
    this.key = key.trim();
    if (this.key) sessionStorage.setItem(KEY_STORAGE, this.key);
    else sessionStorage.removeItem(KEY_STORAGE);
  }

  headers(extra = {}) {
    return this.key ? { Authorization: `Bearer ${this.key}`, ...extra } : { ...extra };
  }

  async request(method, path, body = undefined) {
    const init = { method, headers: this.headers(), cache: "no-store" };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (cause) {
      throw ApiError.offlineError(cause);
    }
    if (!response.ok) throw await ApiError.from(response);
    return response.json();
  }

  health() { return this.request("GET", "/healthz"); }
  limits() { return this.request("GET", "/v1/limits"); }
  collections() { return this.request("GET", "/v1/collections"); }
  submit(body) { return this.request("POST", "/v1/research", body); }
  job(id) { return this.request("GET", `/v1/research/${encodeURIComponent(id)}`); }
  cancel(id) { return this.request("POST", `/v1/research/${encodeURIComponent(id)}/cancel`); }

  jobs(cursor = null, limit = 10) {
    const query = new URLSearchParams({ limit: String(limit) });
    if (cursor) query.set("cursor", cursor);
    return this.request("GET", `/v1/research?${query}`);
  }
}
