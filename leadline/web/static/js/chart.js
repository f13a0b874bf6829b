/**
 * What more compute bought, for one run: the reasoner's anytime answer after each step (its
 * confidence, up) against the tokens spent so far (across), searches as ticks on the axis and
 * the final answer as a star. Inline SVG drawn from the same events as the timeline, so a live
 * run and a reopened one draw the same chart. The viewBox is fixed: redrawing never moves the
 * page.
 */

import { byId, clip, num, s } from "./dom.js";

const W = 600;
const H = 240;
const PAD = { left: 44, right: 18, top: 26, bottom: 36 };

/** A round axis maximum at or above `value`: 1, 2 or 5 times a power of ten. */
function niceCeil(value) {
  const power = 10 ** Math.floor(Math.log10(Math.max(value, 1)));
  for (const step of [1, 2, 5, 10]) if (value <= step * power) return step * power;
  return 10 * power;
}

export class Chart {
  constructor() {
    this.svg = byId("chart");
    this.desc = byId("chart-desc");
    this.reset();
  }

  reset() {
    this.steps = [];     // {tokens, confidence, answer, step}
    this.searches = [];  // tokens at each search
    this.final = null;   // {tokens, answer}
    this.draw();
  }

  handle(type, data) {
    const tokens = data.spend ? data.spend.total_tokens : null;
    if (type === "search" && tokens !== null) this.searches.push(tokens);
    else if (type === "reason" && "answer" in data) {
      this.steps.push({ tokens, confidence: Number(data.confidence), answer: data.answer, step: data.step });
    } else if (type === "answer") this.final = { tokens, answer: data.answer };
    else return;
    this.draw();
  }

  draw() {
    const keep = [...this.svg.querySelectorAll("title, desc")];
    const all = [...this.steps.map((p) => p.tokens), ...this.searches, this.final?.tokens ?? 0];
    const xMax = niceCeil(Math.max(1000, ...all) * 1.05);
    const x = (tokens) => PAD.left + ((W - PAD.left - PAD.right) * tokens) / xMax;
    const y = (confidence) => H - PAD.bottom - (H - PAD.top - PAD.bottom) * confidence;
    const parts = [this.axes(x, y, xMax)];

    for (const tokens of this.searches) {
      parts.push(s("path", { class: "search-tick", d: `M${x(tokens)},${H - PAD.bottom} v-12` }));
    }
    if (this.steps.length) {
      const line = this.steps.map((p) => `${x(p.tokens)},${y(p.confidence)}`).join(" ");
      parts.push(s("polyline", { class: "trace", points: line }));
    }
    let shown = null;
    for (const p of this.steps) {
      parts.push(s("circle", { class: "step-dot", cx: x(p.tokens), cy: y(p.confidence), r: 4.5 },
        s("title", {}, `Step ${p.step}: ${p.answer} (confidence ${p.confidence.toFixed(2)}) at ${num(p.tokens)} tokens`)));
      if (p.answer !== shown) { // label only where the answer changed
        parts.push(s("text", { class: "step-label", x: x(p.tokens), y: y(p.confidence) - 9 }, clip(p.answer, 22)));
        shown = p.answer;
      }
    }
    if (this.final) {
      const last = this.steps.at(-1);
      const cy = y(last ? last.confidence : 1);
      const cx = x(this.final.tokens);
      parts.push(s("path", { class: "final-star", d: star(cx, cy, 8) },
        s("title", {}, `Final answer: ${this.final.answer} at ${num(this.final.tokens)} tokens`)));
      // The reader gives no confidence: the star sits at the last step's, or on top if none.
      parts.push(s("text", { class: "final-label", x: cx, y: cy + 20 }, `final: ${clip(this.final.answer, 22)}`));
    }
    this.svg.replaceChildren(...keep, ...parts);
    this.desc.textContent = this.describe();
  }

  axes(x, y, xMax) {
    const g = s("g", { class: "axes" });
    const left = PAD.left;
    const bottom = H - PAD.bottom;
    g.append(s("path", { class: "axis", d: `M${left},${PAD.top - 6} V${bottom} H${W - PAD.right}` }));
    for (const c of [0, 0.5, 1]) {
      g.append(s("path", { class: "grid", d: `M${left},${y(c)} H${W - PAD.right}` }));
      g.append(s("text", { class: "tick", x: left - 6, y: y(c) + 4, "text-anchor": "end" }, c.toFixed(1)));
    }
    for (const t of [0, xMax / 2, xMax]) {
      g.append(s("text", { class: "tick", x: x(t), y: bottom + 15, "text-anchor": "middle" }, num(t)));
    }
    g.append(s("text", { class: "axis-name", x: W - PAD.right, y: H - 4, "text-anchor": "end" }, "tokens spent"));
    g.append(s("text", { class: "axis-name", x: 4, y: 14 }, "confidence"));
    return g;
  }

  describe() {
    if (!this.steps.length && !this.final) return "No reasoning step yet.";
    const steps = this.steps.map((p) =>
      `step ${p.step}: ${p.answer} (confidence ${p.confidence.toFixed(2)}) at ${num(p.tokens)} tokens`);
    if (this.final) steps.push(`final answer: ${this.final.answer} at ${num(this.final.tokens)} tokens`);
    return `${this.searches.length} search(es); ${steps.join("; ")}.`;
  }
}

function star(cx, cy, r) {
  const points = [];
  for (let i = 0; i < 10; i += 1) {
    const radius = i % 2 ? r * 0.45 : r;
    const angle = (Math.PI / 5) * i - Math.PI / 2;
    points.push(`${(cx + radius * Math.cos(angle)).toFixed(1)},${(cy + radius * Math.sin(angle)).toFixed(1)}`);
  }
  return `M${points.join(" L")} Z`;
}
