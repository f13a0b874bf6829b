/**
 * Ask: the question, the collection (the server's, with their sizes), the budget (every axis the
 * budget has, with the server's maxima shown beside each; the per-step reasoning allowance and
 * the cached token rate under "More settings"), policy and shape, and the API key when the server
 * has keys. A budget field left empty is not sent (the server's default). The server is the one
 * judge of a request: a refusal is shown next to the field it names (a wrong key by the key, an
 * unknown collection by the picker, a budget above the server's limit in the error line of the
 * fieldset holding that budget field), in words the server chose.
 */

import { byId, h, num } from "./dom.js";

const BUDGET_FIELDS = [
  "max_tokens", "max_search_steps", "max_reasoning_tokens", "width", "max_compute", "answer_tokens",
  "reasoning_step_tokens", "cached_token_rate",
];
const INTEGER_FIELDS = new Set([
  "max_tokens", "max_search_steps", "max_reasoning_tokens", "width", "answer_tokens",
  "reasoning_step_tokens", "passages_per_query", "reader_passages",
]);
const ERROR_SLOTS = ["key-error", "collection-error", "budget-error", "budget-more-error", "ask-error"];

/** What the server allows beside a budget field: its maximum; for the cached token rate, which
 * the server bounds from below (a request may not count cached tokens for less than it does),
 * the whole range. */
function limitText(name, spec) {
  if (name === "cached_token_rate") return `${spec.min} to ${spec.max}`;
  return spec.max === null ? "no maximum" : `max ${num(spec.max)}`;
}

/** The budget field a refusal names: `budget.NAME` in its param or message, or a message that
 * starts with `NAME=`; null when it names none (a rule about the budget as a whole). */
function budgetField(error) {
  if (BUDGET_FIELDS.includes(error.param)) return error.param; // the form's own check
  for (const text of [String(error.param || ""), String(error.message || "")]) {
    for (const match of text.matchAll(/\bbudget\.(\w+)/g)) {
      if (BUDGET_FIELDS.includes(match[1])) return match[1];
    }
  }
  const bare = /^(\w+)=/.exec(String(error.message || ""));
  return bare && BUDGET_FIELDS.includes(bare[1]) ? bare[1] : null;
}

function options(select, spec) {
  select.replaceChildren(...spec.choices.map((choice) => h("option", { value: choice }, choice)));
  if (spec.default) select.value = spec.default;
}

export class AskForm {
  constructor(api, onSubmitted) {
    this.api = api;
    this.onSubmitted = onSubmitted;
    this.form = byId("ask-form");
    this.keyField = byId("key-field");
    this.key = byId("api-key");
    this.question = byId("question");
    this.collection = byId("collection");
    this.submitButton = byId("ask-submit");
    this.form.addEventListener("submit", (event) => { event.preventDefault(); this.submit(); });
    this.question.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) { event.preventDefault(); this.submit(); }
    });
  }

  /** Show the key field when the server has keys; `onKey` runs when the key changes. */
  useKeys(auth, onKey) {
    this.keyField.hidden = !auth;
    this.key.value = this.api.key;
    this.key.addEventListener("change", () => { this.api.setKey(this.key.value); onKey(); });
  }

  /** Fill the pickers and budget fields from the server; false when it refused (shown). */
  async loadOptions() {
    try {
      const [limits, collections] = await Promise.all([this.api.limits(), this.api.collections()]);
      this.applyLimits(limits);
      this.applyCollections(collections);
      this.clearErrors();
      return true;
    } catch (error) {
      this.collection.replaceChildren(h("option", { value: "" }, "(enter a valid key to list collections)"));
      this.showError(error);
      return false;
    }
  }

  applyLimits(limits) {
    this.limits = limits;
    for (const name of BUDGET_FIELDS) {
      const spec = limits.budget[name];
      const input = byId(name);
      input.value = spec.default ?? "";
      input.min = String(spec.min);
      if (spec.max !== null) input.max = String(spec.max);
      this.form.querySelector(`[data-limit="${name}"]`).textContent = limitText(name, spec);
    }
    options(byId("policy"), limits.policy);
    options(byId("shape"), limits.shape);
    options(byId("kv_mode"), limits.kv_mode);
    byId("passages_per_query").value = limits.passages_per_query.default;
    byId("reader_passages").value = limits.reader_passages.default;
    this.question.maxLength = limits.max_question_chars;
  }

  applyCollections(list) {
    const label = (c) => `${c.name} (${c.passages === null ? "size unknown" : `${num(c.passages)} passages`})`;
    this.collection.replaceChildren(...list.data.map((c) => h("option", { value: c.name }, label(c))));
    this.collection.value = list.default;
    if (!this.collection.value && list.data.length) this.collection.value = list.data[0].name;
    byId("collection-hint").textContent = list.data.length
      ? ""
      : "No collections yet: ingest documents first (leadline ingest PATH --collection NAME, or make demo).";
  }

  /** The request body, or null after showing why the form cannot be sent as it is. */
  body() {
    const question = this.question.value.trim();
    if (!question) {
      this.showError({ message: "Write a question first.", param: "question" });
      return null;
    }
    const body = { question, policy: byId("policy").value, shape: byId("shape").value };
    if (this.collection.value) body.collection = this.collection.value;
    const budget = {};
    for (const name of [...BUDGET_FIELDS, "passages_per_query", "reader_passages"]) {
      const input = byId(name);
      if (input.value === "" && input.validity.valid) continue; // left empty: the server's default
      const value = input.valueAsNumber;
      if (!Number.isFinite(value) || (INTEGER_FIELDS.has(name) && !Number.isInteger(value))) {
        this.showError({ message: `${input.closest("label").firstChild.textContent.trim()} must be a ${INTEGER_FIELDS.has(name) ? "whole " : ""}number.`, param: name });
        return null;
      }
      if (BUDGET_FIELDS.includes(name)) budget[name] = value;
      else body[name] = value;
    }
    body.budget = budget;
    if (byId("kv_mode").value) body.kv_mode = byId("kv_mode").value;
    return body;
  }

  async submit() {
    if (this.submitButton.disabled) return;
    this.clearErrors();
    const body = this.body();
    if (!body) return;
    this.submitButton.disabled = true;
    try {
      const accepted = await this.api.submit(body);
      await this.onSubmitted(accepted.id);
    } catch (error) {
      this.showError(error);
    } finally {
      this.submitButton.disabled = false;
    }
  }

  clearErrors() {
    for (const id of ERROR_SLOTS) byId(id).textContent = "";
    for (const el of this.form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
  }

  /** Put an error next to what it is about: key, collection, a budget field (in its fieldset's
   * error line), or the form as a whole; "More settings" opens when the field is in it. */
  showError(error) {
    const param = String(error.param || "");
    let slot = "ask-error";
    let field = null;
    if (error.status === 401) {
      slot = "key-error";
      field = this.key;
      this.keyField.hidden = false;
    } else if (param === "collection" || error.code === "unknown_collection") {
      slot = "collection-error";
      field = this.collection;
    } else if (param.startsWith("budget") || error.code === "invalid_budget" || BUDGET_FIELDS.includes(param)) {
      const name = budgetField(error);
      field = name ? byId(name) : null;
      slot = field ? field.closest("fieldset").querySelector(".error").id : "budget-error";
    } else if (param === "question") {
      field = this.question;
    } else if (param && byId(param)) {
      field = byId(param);
    }
    const prefix = error.code === "invalid_api_key" ? "The server refused the API key: " : "";
    byId(slot).textContent = prefix + error.message;
    if (field) {
      const more = field.closest("details");
      if (more) more.open = true; // a closed <details> hides the field and its error
      field.setAttribute("aria-invalid", "true");
      field.focus();
    }
  }
}
