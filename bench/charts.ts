// Inline SVG charts for the HTML report (no script, no external file, so the report is one
// self-contained page): a line chart (throughput against worker count, a line per target) and
// a grouped bar chart (latency percentiles per target).

export const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b'];

export interface Series {
  name: string;
  points: Array<{ x: number; y: number }>;
}

export interface BarGroup {
  label: string;
  bars: Array<{ name: string; value: number }>;
}

const WIDTH = 640;
const HEIGHT = 320;
const MARGIN = { top: 36, right: 150, bottom: 48, left: 72 };

export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);
}

/** The smallest 1, 2 or 5 times a power of ten that is >= value (an axis maximum). */
export function niceMax(value: number): number {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5, 10]) if (step * power >= value) return step * power;
  return 10 * power;
}

const fmt = (n: number) => (Math.abs(n) >= 1000 ? Math.round(n).toLocaleString('en-US') : String(Math.round(n * 10) / 10));

function frame(title: string, yLabel: string, xLabel: string, yMax: number, body: string, legend: string[]): string {
  const plotHeight = HEIGHT - MARGIN.top - MARGIN.bottom;
  const plotRight = WIDTH - MARGIN.right;
  const ticks: string[] = [];
  for (let i = 0; i <= 5; i++) {
    const value = (yMax * i) / 5;
    const y = MARGIN.top + plotHeight - (plotHeight * i) / 5;
    ticks.push(`<line x1="${MARGIN.left}" x2="${plotRight}" y1="${y}" y2="${y}" stroke="#e5e5e5"/>` +
      `<text x="${MARGIN.left - 6}" y="${y + 4}" text-anchor="end">${fmt(value)}</text>`);
  }
  const legendItems = legend.map((name, i) =>
    `<rect x="${plotRight + 16}" y="${MARGIN.top + i * 20}" width="12" height="12" fill="${PALETTE[i % PALETTE.length]}"/>` +
    `<text x="${plotRight + 34}" y="${MARGIN.top + i * 20 + 10}">${escapeXml(name)}</text>`);
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${WIDTH} ${HEIGHT}" width="${WIDTH}" height="${HEIGHT}" ` +
    `font-family="sans-serif" font-size="11" role="img" aria-label="${escapeXml(title)}">` +
    `<text x="${WIDTH / 2}" y="18" text-anchor="middle" font-size="14" font-weight="bold">${escapeXml(title)}</text>` +
    ticks.join('') +
    `<line x1="${MARGIN.left}" x2="${MARGIN.left}" y1="${MARGIN.top}" y2="${MARGIN.top + plotHeight}" stroke="#333"/>` +
    `<line x1="${MARGIN.left}" x2="${plotRight}" y1="${MARGIN.top + plotHeight}" y2="${MARGIN.top + plotHeight}" stroke="#333"/>` +
    `<text x="16" y="${MARGIN.top + plotHeight / 2}" text-anchor="middle" transform="rotate(-90 16 ${MARGIN.top + plotHeight / 2})">${escapeXml(yLabel)}</text>` +
    `<text x="${(MARGIN.left + plotRight) / 2}" y="${HEIGHT - 8}" text-anchor="middle">${escapeXml(xLabel)}</text>` +
    body + legendItems.join('') + '</svg>';
}

/** A line per series over the distinct x values, evenly spaced (worker counts 1, 2, 4 ...). */
export function lineChart(options: { title: string; xLabel: string; yLabel: string; series: Series[] }): string {
  const xs = [...new Set(options.series.flatMap((s) => s.points.map((p) => p.x)))].sort((a, b) => a - b);
  const yMax = niceMax(Math.max(0, ...options.series.flatMap((s) => s.points.map((p) => p.y))));
  const plotWidth = WIDTH - MARGIN.left - MARGIN.right;
  const plotHeight = HEIGHT - MARGIN.top - MARGIN.bottom;
  const xAt = (x: number) => MARGIN.left + (xs.length <= 1 ? plotWidth / 2 : (plotWidth * 0.9 * xs.indexOf(x)) / (xs.length - 1) + plotWidth * 0.05);
  const yAt = (y: number) => MARGIN.top + plotHeight - (plotHeight * y) / yMax;
  const xTicks = xs.map((x) => `<text x="${xAt(x)}" y="${MARGIN.top + plotHeight + 16}" text-anchor="middle">${fmt(x)}</text>`);
  const lines = options.series.map((series, i) => {
    const color = PALETTE[i % PALETTE.length];
    const points = [...series.points].sort((a, b) => a.x - b.x);
    const path = points.map((p) => `${xAt(p.x).toFixed(1)},${yAt(p.y).toFixed(1)}`).join(' ');
    const dots = points.map((p) => `<circle cx="${xAt(p.x).toFixed(1)}" cy="${yAt(p.y).toFixed(1)}" r="3.5" fill="${color}">` +
      `<title>${escapeXml(`${series.name}: ${fmt(p.y)} at ${fmt(p.x)}`)}</title></circle>`);
    return `<polyline fill="none" stroke="${color}" stroke-width="2" points="${path}"/>${dots.join('')}`;
  });
  return frame(options.title, options.yLabel, options.xLabel, yMax, xTicks.join('') + lines.join(''),
    options.series.map((s) => s.name));
}

/** Groups along x (targets), a bar per name inside each group (p50, p97.5, p99). */
export function barChart(options: { title: string; yLabel: string; xLabel: string; groups: BarGroup[] }): string {
  const names = [...new Set(options.groups.flatMap((g) => g.bars.map((b) => b.name)))];
  const yMax = niceMax(Math.max(0, ...options.groups.flatMap((g) => g.bars.map((b) => b.value))));
  const plotWidth = WIDTH - MARGIN.left - MARGIN.right;
  const plotHeight = HEIGHT - MARGIN.top - MARGIN.bottom;
  const groupWidth = plotWidth / Math.max(1, options.groups.length);
  const barWidth = (groupWidth * 0.8) / Math.max(1, names.length);
  const body = options.groups.map((group, g) => {
    const left = MARGIN.left + g * groupWidth + groupWidth * 0.1;
    const bars = group.bars.map((bar) => {
      const i = names.indexOf(bar.name);
      const height = (plotHeight * bar.value) / yMax;
      return `<rect x="${(left + i * barWidth).toFixed(1)}" y="${(MARGIN.top + plotHeight - height).toFixed(1)}" ` +
        `width="${(barWidth * 0.9).toFixed(1)}" height="${height.toFixed(1)}" fill="${PALETTE[i % PALETTE.length]}">` +
        `<title>${escapeXml(`${group.label} ${bar.name}: ${fmt(bar.value)}`)}</title></rect>`;
    });
    return bars.join('') + `<text x="${(left + groupWidth * 0.4).toFixed(1)}" y="${MARGIN.top + plotHeight + 16}" ` +
      `text-anchor="middle">${escapeXml(group.label)}</text>`;
  });
  return frame(options.title, options.yLabel, options.xLabel, yMax, body.join(''), names);
}
