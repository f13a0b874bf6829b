/**
 * The research page: wires Ask, Watch, Check and History to the API.
 *
 *   api.js      fetch wrapper (API key, error bodies)     stream.js  SSE over fetch, resumable
 *   ask.js      the form                                   watch.js   status, meters, timeline
 *   check.js    answer, citations, passage dialog         chart.js   anytime answers vs tokens
 *   history.js  the jobs list
 *
 * The job on screen is in the address (#job=ID), so a reload, a bookmark or the back button
 * reopens it: its stored events replay from the start, then it follows live if still running.
 * Only one job is followed at a time; opening another stops following the first.
 */

import { Api } from "./api.js";
import { AskForm } from "./ask.js";
import { Chart } from "./chart.js";
import { Check } from "./check.js";
import { byId } from "./dom.js";
import { History } from "./history.js";
import { follow } from "./stream.js";
import { Watch } from "./watch.js";

const api = new Api();
const watch = new Watch();
const check = new Check();
const chart = new Chart();
const history = new History(api, (id) => showJob(id));
const ask = new AskForm(api, async (id) => {
  showJob(id);
  byId("watch-h").focus({ preventScroll: false });
});
const connection = byId("connection");

let following = null; // {id, controller}

function summaryOf(job) {
  return {
    id: job.id,
    question: job.question,
    status: job.status,
    created_at: job.created_at,
    answer: job.result ? job.result.answer : null,
    error: job.error,
  };
}

function setConnection(text, state) {
  connection.hidden = !text;
  connection.textContent = text;
  connection.dataset.state = state || "";
}

function jobFromHash() {
  const match = /^#job=([0-9A-Za-z_-]{1,64})$/.exec(location.hash);
  return match ? match[1] : null;
}

/** Put job `id` in the address; the hashchange handler opens it. */
function showJob(id) {
  if (jobFromHash() === id) openJob(id);
  else location.hash = `job=${id}`;
}

async function openJob(id) {
  if (following) following.controller.abort();
  const controller = new AbortController();
  following = { id, controller };
  history.mark(id);
  let job;
  try {
    job = await api.job(id);
  } catch (error) {
    watch.setStatus("failed", `cannot open job ${id}: ${error.message}`);
    return;
  }
  if (controller.signal.aborted) return;
  watch.reset(job);
  check.reset();
  chart.reset();
  history.upsert(summaryOf(job), ["queued", "running"].includes(job.status));
  try {
    const result = await follow(api, id, {
      signal: controller.signal,
      onEvent: (type, data) => {
        watch.handle(type, data);
        check.handle(type, data);
        chart.handle(type, data);
      },
      onConnection: (state, last, retryMs) => {
        if (state === "lost") {
          setConnection(`Connection lost. Reconnecting in ${Math.round(retryMs / 1000)} s, to resume after event ${last}…`, "lost");
        } else if (connection.dataset.state === "lost") {
          setConnection(`Reconnected: resumed after event ${last}.`, "resumed");
          setTimeout(() => { if (connection.dataset.state === "resumed") setConnection("", ""); }, 4000);
        }
      },
    });
    if (result) history.upsert(summaryOf(result));
  } catch (error) {
    watch.setStatus("failed", error.message);
  }
}

watch.cancel.addEventListener("click", async () => {
  if (!following) return;
  watch.cancel.disabled = true;
  try {
    await api.cancel(following.id); // the stream then ends with the cancelled result
  } catch (error) {
    watch.setStatus(watch.status.dataset.status, `could not cancel: ${error.message}`);
  }
});

window.addEventListener("hashchange", () => {
  const id = jobFromHash();
  if (id && (!following || following.id !== id)) openJob(id);
});

async function start() {
  let auth = false;
  try {
    auth = (await api.health()).auth;
  } catch (error) {
    setConnection(error.message, "lost");
  }
  const reload = async () => {
    if (await ask.loadOptions()) {
      await history.load();
      const id = jobFromHash();
      if (id) openJob(id);
    }
  };
  ask.useKeys(auth, reload);
  if (auth && !api.key) {
    ask.showError({ status: 401, message: "This server has API keys: enter yours to begin." });
    return;
  }
  await reload();
}

start();
