/**
 * Watch: one run as it happens. The status line, a spend meter for the token, search-step and
 * compute caps of the run's budget (tokens with their cached share; the reasoning-token cap has
 * none, as the spend in progress events does not carry the reasoner's tokens), and the timeline
 * of its steps: the plan, each search with the titles it kept, each reasoning step with its note
 * and anytime answer. The meters always have three rows and the timeline is a fixed-height box that
 * scrolls, so nothing on the page moves while events stream in.
 */

import { byId, clip, h, num } from "./dom.js";

const STATUS_TEXT = {
  idle: "Idle",
  queued: "Queued",
  running: "Running",
  interrupted: "Interrupted: the server stopped; the run resumes when it is back",
  succeeded: "Answered",
  failed: "Failed",
  cancelled: "Cancelled",
};

/** Tokens in the budget's unit: cached prompt tokens at its rate (what max_tokens caps). */
function weightedOf(spend, rate) {
  const uncached = spend.prompt_tokens - spend.cached_tokens;
  return uncached + spend.cached_tokens * (rate ?? 1) + spend.completion_tokens;
}

/** Compute (token-equivalents) of a spend at the budget's exchange rates. */
function computeOf(spend, rates) {
  const uncached = spend.prompt_tokens - spend.cached_tokens;
  return uncached * rates.prompt + spend.cached_tokens * rates.cached_prompt
    + spend.completion_tokens * rates.completion + spend.search_steps * rates.search_step;
}

class Meter {
  constructor(label) {
    this.fill = h("span", { class: "meter-fill" });
    this.cached = h("span", { class: "meter-cached" });
    this.bar = h("span", { class: "meter-bar", role: "meter", "aria-label": label, "aria-valuemin": 0 },
      this.cached, this.fill);
    this.value = h("span", { class: "meter-value" });
    this.root = h("div", { class: "meter" }, h("span", { class: "meter-label" }, label), this.bar, this.value);
  }

  set(used, cap, text, cachedPart = 0) {
    const share = (part) => (cap ? Math.min(100, (100 * part) / cap) : 0);
    this.cached.style.width = `${share(cachedPart)}%`;
    this.fill.style.width = `${share(used - cachedPart)}%`;
    this.bar.setAttribute("aria-valuenow", String(Math.round(used)));
    if (cap) this.bar.setAttribute("aria-valuemax", String(cap));
    else this.bar.removeAttribute("aria-valuemax");
    this.bar.setAttribute("aria-valuetext", text);
    this.bar.classList.toggle("uncapped", !cap);
    this.value.textContent = text;
  }
}

export class Watch {
  constructor() {
    this.question = byId("run-question");
    this.status = byId("run-status");
    this.cancel = byId("cancel");
    this.timeline = byId("timeline");
    this.tokens = new Meter("Tokens");
    this.steps = new Meter("Search steps");
    this.compute = new Meter("Compute");
    byId("meters").append(this.tokens.root, this.steps.root, this.compute.root);
    this.budget = null;
    this.setSpend(null);
  }

  reset(job) {
    this.budget = job.request.budget;
    this.question.textContent = job.question;
    this.question.title = job.question;
    this.timeline.replaceChildren();
    this.setStatus(job.status === "queued" ? "queued" : "running");
    this.setSpend({ prompt_tokens: 0, cached_tokens: 0, completion_tokens: 0, search_steps: 0, total_tokens: 0 });
  }

  setStatus(status, detail = "") {
    const text = STATUS_TEXT[status] || status;
    this.status.dataset.status = status;
    this.status.textContent = detail ? `${text}: ${detail}` : text;
    this.status.title = this.status.textContent;
    this.cancel.disabled = !["queued", "running", "interrupted"].includes(status);
  }

  setSpend(spend) {
    const b = this.budget;
    if (!spend || !b) {
      for (const meter of [this.tokens, this.steps, this.compute]) meter.set(0, 0, "–");
      return;
    }
    const share = spend.prompt_tokens ? Math.round((100 * spend.cached_tokens) / spend.prompt_tokens) : 0;
    const cap = (value) => (value === null ? "no cap" : num(value));
    const rate = b.cached_token_rate ?? 1;
    const weighted = weightedOf(spend, rate);
    this.tokens.set(weighted, b.max_tokens,
      `${num(weighted)} / ${cap(b.max_tokens)} · ${share}% cached (×${rate})`,
      spend.cached_tokens * rate);
    this.steps.set(spend.search_steps, b.max_search_steps,
      `${num(spend.search_steps)} / ${cap(b.max_search_steps)}`);
    const compute = computeOf(spend, b.rates);
    this.compute.set(compute, b.max_compute, `${num(compute)} / ${cap(b.max_compute)}`);
  }

  /** One progress event of the run (see leadline.core.progress_event and the job's result). */
  handle(type, data) {
    if (data.spend) this.setSpend(data.spend);
    else if (type === "result" && data.result?.usage) this.setSpend(data.result.usage);
    const item = this.render(type, data);
    if (item) this.append(item);
  }

  render(type, data) {
    const spent = data.spend ? `${num(data.spend.total_tokens)} tok · ${num(data.spend.search_steps)} steps` : "";
    const item = (title, ...body) => h("li", { class: `ev ev-${type}`, dataset: { type } },
      h("div", { class: "ev-head" }, h("strong", {}, title), h("span", { class: "ev-spend" }, spent)),
      ...body);
    if (type === "status") { // "started", or how it came back after a server restart
      const interrupted = data.status === "interrupted";
      this.setStatus(interrupted ? "interrupted" : "running");
      const title = interrupted ? "Interrupted" : data.note === "started" ? "Started" : "Resumed";
      return item(title, data.note && data.note !== "started" ? h("p", {}, data.note) : null);
    }
    if (type === "plan") {
      this.setStatus("running", "planned");
      return item(`Plan · ${data.hops} hop${data.hops === 1 ? "" : "s"} · ${data.shape}`,
        h("ol", { class: "subq" }, data.sub_questions.map((q) => h("li", {}, q))),
        h("p", { class: "queries" }, "Queries: ", data.queries.map((q) => h("q", {}, q))));
    }
    if (type === "search") {
      this.setStatus("running", `searched “${clip(data.query, 40)}”`);
      const kept = data.error
        ? h("p", { class: "ev-error" }, data.error)
        : data.passages.length
          ? h("ul", { class: "kept" }, data.passages.map((t) => h("li", {}, t)))
          : h("p", { class: "muted" }, "nothing new");
      return item(`Search “${data.query}”`, kept);
    }
    if (type === "reason") {
      this.setStatus("running", `step ${data.step}`);
      const answer = "answer" in data
        ? h("p", { class: "anytime" }, "Anytime answer: ", h("b", {}, data.answer),
          ` · confidence ${Number(data.confidence).toFixed(2)}`)
        : h("p", { class: "muted" }, data.stop_reason === "budget"
          ? "No reasoning: the budget leaves no room for another round; the reader answers now."
          : "No usable decision this step.");
      return item(`Step ${data.step}`,
        data.note ? h("p", { class: "note" }, data.note) : null,
        data.found ? h("p", { class: "found" }, "Found: ", data.found) : null,
        answer,
        data.next_queries ? h("p", { class: "queries" }, "Next: ", data.next_queries.map((q) => h("q", {}, q))) : null,
        data.stop_reason ? h("p", { class: "muted" }, `Stopping: ${data.stop_reason}`) : null);
    }
    if (type === "read") { // the early read after round one (stop_confidence)
      const sure = data.confidence == null ? "no log-probabilities" : `confidence ${Number(data.confidence).toFixed(2)}`;
      return item("Early read", h("p", { class: "anytime" }, h("b", {}, data.answer), ` · ${sure}`),
        h("p", { class: "muted" }, data.stopped ? "Sure enough: no more search." : "Not sure enough: searching on."));
    }
    if (type === "answer") {
      const via = data.source && data.source !== "reader" ? ` (from the ${data.source} answer)` : "";
      return item("Answer", h("p", {}, h("b", {}, data.answer), via));
    }
    if (type === "result") {
      this.setStatus(data.status, data.status === "succeeded" ? "" : data.error || "");
      const why = data.status === "succeeded"
        ? `stopped: ${data.result?.stop_reason ?? "done"}`
        : data.error || "";
      return item(STATUS_TEXT[data.status] || data.status, h("p", {}, why));
    }
    return null;
  }

  append(item) {
    const box = this.timeline;
    const atEnd = box.scrollHeight - box.scrollTop - box.clientHeight < 40;
    box.append(item);
    if (atEnd) box.scrollTop = box.scrollHeight; // follow the run unless the reader scrolled up
  }
}
