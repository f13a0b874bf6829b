/**
 * Check: the answer with numbered citations, each of which opens the passage it rests on, its
 * source, and the quoted span highlighted in the passage text, so a reader can see whether the
 * passage says what the answer claims. The passage texts come with the job's result
 * (`result.passages`), so a job reopened from the history can be checked the same way.
 */

import { byId, clip, h } from "./dom.js";

const PLACEHOLDER = "The answer appears here, with a numbered citation for each passage it rests on.";

/** The passage text as nodes, with `quote` marked where it occurs. */
function highlighted(text, quote) {
  let at = quote ? text.indexOf(quote) : -1;
  let length = quote ? quote.length : 0;
  if (at < 0 && quote) { // the quote was cut at a length limit: find its start instead
    const head = quote.slice(0, Math.min(quote.length, 60));
    at = text.indexOf(head);
    length = head.length;
  }
  if (at < 0) return [h("p", { class: "muted" }, "Quoted: ", h("q", {}, quote || "")), text];
  return [text.slice(0, at), h("mark", {}, text.slice(at, at + length)), text.slice(at + length)];
}

function sourceNode(source) {
  if (/^https?:\/\//i.test(source)) {
    return h("a", { href: source, target: "_blank", rel: "noopener noreferrer" }, source);
  }
  return source;
}

export class Check {
  constructor() {
    this.answer = byId("answer");
    this.citations = byId("citations");
    this.dialog = byId("passage");
    this.reset();
  }

  reset() {
    this.answer.replaceChildren(h("p", { class: "placeholder" }, PLACEHOLDER));
    this.citations.replaceChildren();
  }

  handle(type, data) {
    if (type === "answer") {
      this.answer.replaceChildren(h("p", { class: "answer-text" }, data.answer));
    } else if (type === "result") {
      this.showResult(data);
    }
  }

  showResult(job) {
    const result = job.result;
    if (job.status !== "succeeded" || !result) {
      const what = job.status === "cancelled" ? "Cancelled" : "No answer";
      this.answer.replaceChildren(
        h("p", { class: "answer-missing" }, `${what}: ${job.error || "the run ended without one"}`));
      this.citations.replaceChildren();
      return;
    }
    const passages = new Map((result.passages || []).map((p) => [p.passage_id, p]));
    const cites = result.citations || [];
    const marks = cites.map((c) => this.citeButton(c, passages.get(c.passage_id), "cite-inline"));
    const via = result.answer_source === "anytime" ? h("span", { class: "muted" }, " (the reasoner's last answer)") : null;
    this.answer.replaceChildren(h("p", { class: "answer-text" }, result.answer, " ", ...marks, via));
    this.citations.replaceChildren(...cites.map((c) => h("li", {},
      this.citeButton(c, passages.get(c.passage_id), "cite"),
      " ", h("span", { class: "cite-title" }, c.title), " ",
      h("span", { class: "cite-quote" }, `“${clip(c.quote, 140)}”`))));
  }

  citeButton(citation, passage, className) {
    return h("button", {
      type: "button",
      class: className,
      dataset: { evidence: citation.evidence },
      "aria-label": `Citation ${citation.evidence}: ${citation.title}`,
      onclick: () => this.open(citation, passage),
    }, `[${citation.evidence}]`);
  }

  open(citation, passage) {
    byId("passage-title").textContent = `[${citation.evidence}] ${passage ? passage.title : citation.title}`;
    byId("passage-source").replaceChildren("Source: ", sourceNode(passage ? passage.source : citation.source));
    const text = passage ? passage.text : citation.quote;
    byId("passage-text").replaceChildren(...highlighted(text, citation.quote));
    this.dialog.showModal();
  }
}
