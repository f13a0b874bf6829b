/**
 * Following a job's Server-Sent Events, over fetch rather than EventSource: EventSource cannot
 * send the Authorization header a server with API keys needs. When the connection drops (the
 * network, a server restart) it waits the interval the server asked for (`retry:`) and
 * reconnects with `Last-Event-ID`, so the stream resumes after the last event shown: none is
 * lost and none is shown twice. It ends with the job's `result` event.
 */

import { ApiError } from "./api.js";

const DEFAULT_RETRY_MS = 3000;
// Answers that retrying cannot change: no such job, a refused key, a bad request.
const FATAL = new Set([400, 401, 403, 404, 422]);

/** Parse a text/event-stream body into {id, event, data, retry} records. */
export async function* parseEvents(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let record = { data: [] };
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      let end;
      while ((end = buffer.search(/\r\n|\r|\n/)) >= 0) {
        const line = buffer.slice(0, end);
        buffer = buffer.slice(end + (buffer.startsWith("\r\n", end) ? 2 : 1));
        if (line === "") {
          if (record.data.length || record.retry) yield { ...record, data: record.data.join("\n") };
          record = { data: [] };
        } else if (!line.startsWith(":")) {
          const colon = line.indexOf(":");
          const field = colon < 0 ? line : line.slice(0, colon);
          const text = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
          if (field === "data") record.data.push(text);
          else if (field === "id" || field === "event") record[field] = text;
          else if (field === "retry" && /^\d+$/.test(text)) record.retry = Number(text);
        }
      }
    }
  } finally {
    reader.releaseLock();
  }
}

function sleep(ms, signal) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => { clearTimeout(timer); resolve(); }, { once: true });
  });
}

/**
 * Follow job `jobId` from event number `after`. Calls `onEvent(type, data, seq)` for each event
 * and `onConnection(state, lastSeq, retryMs)` with "open", "lost" or "closed". Resolves with the
 * `result` event's data, or null when `signal` aborts; rejects with an ApiError that retrying
 * cannot fix.
 */
export async function follow(api, jobId, { after = 0, onEvent, onConnection, signal }) {
  let last = after;
  let retryMs = DEFAULT_RETRY_MS;
  const url = `/v1/research/${encodeURIComponent(jobId)}/events`;
  while (!signal.aborted) {
    try {
      const headers = api.headers({ Accept: "text/event-stream" });
      if (last > 0) headers["Last-Event-ID"] = String(last);
      const response = await fetch(url, { headers, signal, cache: "no-store" });
      if (!response.ok) {
        const error = await ApiError.from(response);
        if (FATAL.has(response.status)) throw error;
      } else {
        onConnection("open", last, retryMs);
        for await (const record of parseEvents(response.body)) {
          if (record.retry) retryMs = record.retry;
          if (!record.data) continue;
          const seq = Number(record.id || 0);
          if (seq && seq <= last) continue; // already shown before a reconnect
          if (seq) last = seq;
          const data = JSON.parse(record.data);
          onEvent(record.event || "message", data, seq);
          if (record.event === "result") {
            onConnection("closed", last, retryMs);
            return data;
          }
        }
      }
    } catch (error) {
      if (signal.aborted) return null;
      if (error instanceof ApiError && FATAL.has(error.status)) throw error;
    }
    if (signal.aborted) return null;
    // The stream ended before the job did (a dropped connection, a restarting server).
    onConnection("lost", last, retryMs);
    await sleep(retryMs, signal);
  }
  return null;
}
