// Small SVG plots (no library): a line plot of (x, y) points and a bar chart.
const NS = "http://www.w3.org/2000/svg";

function el(tag, attrs, text) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

function frame(title, width, height) {
  const svg = el("svg", { class: "plot", width, height, viewBox: `0 0 ${width} ${height}`, role: "img",
    "aria-label": title });
  svg.append(el("title", {}, title));
  return svg;
}

function fmt(v) {
  if (Math.abs(v) >= 1e6 || (Math.abs(v) < 1e-3 && v !== 0)) return v.toExponential(2);
  return String(Number(v.toPrecision(6)));
}

// points: [{x, y, label?}] (numbers); draws the axes, a polyline and one circle per point.
export function linePlot(points, { title = "plot", width = 420, height = 200, xLabel = "", yLabel = "" } = {}) {
  const svg = frame(title, width, height);
  const pad = { l: 56, r: 12, t: 12, b: 34 };
  const xs = points.map((p) => p.x), ys = points.map((p) => p.y);
  let [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  let [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  if (x0 === x1) { x0 -= 1; x1 += 1; }
  if (y0 === y1) { y0 -= 1; y1 += 1; }
  const sx = (x) => pad.l + ((x - x0) / (x1 - x0)) * (width - pad.l - pad.r);
  const sy = (y) => height - pad.b - ((y - y0) / (y1 - y0)) * (height - pad.t - pad.b);
  svg.append(el("line", { class: "axis", x1: pad.l, y1: height - pad.b, x2: width - pad.r, y2: height - pad.b }));
  svg.append(el("line", { class: "axis", x1: pad.l, y1: pad.t, x2: pad.l, y2: height - pad.b }));
  svg.append(el("text", { x: pad.l - 4, y: pad.t + 8, "text-anchor": "end" }, fmt(y1)));
  svg.append(el("text", { x: pad.l - 4, y: height - pad.b, "text-anchor": "end" }, fmt(y0)));
  svg.append(el("text", { x: pad.l, y: height - pad.b + 14 }, fmt(x0)));
  svg.append(el("text", { x: width - pad.r, y: height - pad.b + 14, "text-anchor": "end" }, fmt(x1)));
  if (xLabel) svg.append(el("text", { x: (width + pad.l) / 2, y: height - 4, "text-anchor": "middle" }, xLabel));
  if (yLabel) svg.append(el("text", { x: 4, y: pad.t + 8 }, yLabel));
  if (points.length) {
    const sorted = [...points].sort((a, b) => a.x - b.x);
    svg.append(el("polyline", { class: "series", points: sorted.map((p) => `${sx(p.x)},${sy(p.y)}`).join(" ") }));
    for (const p of sorted) {
      const c = el("circle", { class: "point", cx: sx(p.x), cy: sy(p.y), r: 3.5 });
      c.append(el("title", {}, p.label || `${fmt(p.x)}: ${fmt(p.y)}`));
      svg.append(c);
    }
  }
  return svg;
}

// items: [{label, value}]; one rect per item, labels under the bars.
export function barPlot(items, { title = "bars", width = 420, height = 200 } = {}) {
  const svg = frame(title, width, height);
  const pad = { l: 40, r: 8, t: 16, b: 40 };
  const max = Math.max(1, ...items.map((i) => i.value));
  const slot = (width - pad.l - pad.r) / Math.max(1, items.length);
  svg.append(el("line", { class: "axis", x1: pad.l, y1: height - pad.b, x2: width - pad.r, y2: height - pad.b }));
  svg.append(el("text", { x: pad.l - 4, y: pad.t, "text-anchor": "end" }, fmt(max)));
  items.forEach((item, i) => {
    const h = (item.value / max) * (height - pad.t - pad.b);
    const x = pad.l + i * slot + slot * 0.15;
    const rect = el("rect", { class: "bar", x, y: height - pad.b - h, width: slot * 0.7, height: Math.max(h, 0) });
    rect.append(el("title", {}, `${item.label}: ${fmt(item.value)}`));
    svg.append(rect);
    svg.append(el("text", { x: x + slot * 0.35, y: height - pad.b + 13, "text-anchor": "middle" }, item.label));
    svg.append(el("text", { x: x + slot * 0.35, y: height - pad.b - h - 3, "text-anchor": "middle" }, fmt(item.value)));
  });
  return svg;
}
