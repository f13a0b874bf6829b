/**
 * History: this key's jobs, newest first, a page at a time ("Older jobs" follows the API's
 * cursor). Each row reopens its job; a failed or cancelled one says why in the row itself. Rows
 * have a fixed height and a finished run updates its row in place, so the list does not jump.
 */

import { byId, clip, h, when } from "./dom.js";

const PAGE = 10;

function describe(job) {
  if (job.status === "succeeded") return job.answer ? `answer: ${job.answer}` : "answered";
  if (job.status === "failed" || job.status === "cancelled") return job.error || job.status;
  return job.status;
}

export class History {
  constructor(api, onOpen) {
    this.api = api;
    this.onOpen = onOpen;
    this.list = byId("jobs");
    this.more = byId("more-jobs");
    this.error = byId("history-error");
    this.cursor = null;
    this.current = null;
    this.more.addEventListener("click", () => this.load(false));
  }

  async load(fresh = true) {
    try {
      const page = await this.api.jobs(fresh ? null : this.cursor, PAGE);
      const rows = page.data.map((job) => this.row(job));
      if (fresh) this.list.replaceChildren(...rows);
      else this.list.append(...rows);
      if (fresh && !page.data.length) this.list.replaceChildren(h("li", { class: "muted empty" }, "No jobs yet."));
      this.cursor = page.next_cursor;
      this.more.hidden = !page.has_more;
      this.error.textContent = "";
      this.mark(this.current);
    } catch (error) {
      this.error.textContent = `Could not load the history: ${error.message}`;
    }
  }

  row(job) {
    const button = h("button", {
      type: "button",
      class: "job",
      dataset: { id: job.id, status: job.status },
      onclick: () => this.onOpen(job.id),
    });
    this.fill(button, job);
    return h("li", {}, button);
  }

  fill(button, job) {
    button.dataset.status = job.status;
    button.title = job.question;
    button.replaceChildren(
      h("span", { class: "job-question" }, job.question),
      h("span", { class: "job-meta" },
        h("span", { class: `badge badge-${job.status}` }, job.status), " ",
        when(job.created_at), " · ", clip(describe(job), 120)),
    );
  }

  /** Update a job's row in place; a new job (`add`) goes on top, newest first. */
  upsert(job, add = false) {
    const existing = this.list.querySelector(`button.job[data-id="${CSS.escape(job.id)}"]`);
    if (existing) {
      this.fill(existing, job);
    } else if (add) {
      this.list.querySelector(".empty")?.remove();
      this.list.prepend(this.row(job));
    }
    this.mark(this.current);
  }

  mark(jobId) {
    this.current = jobId;
    for (const button of this.list.querySelectorAll("button.job")) {
      if (button.dataset.id === jobId) button.setAttribute("aria-current", "true");
      else button.removeAttribute("aria-current");
    }
  }
}
