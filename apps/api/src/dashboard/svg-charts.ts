import { esc, round } from './html.js';

/**
 * Inline SVG charts drawn on the server: the dashboard loads nothing else (no script, no CDN) and a test can
 * count the shapes in the DOM. Each shape carries data-* attributes naming what it stands for, and a <title>
 * the browser shows on hover.
 */

/** One part of a whole: a segment of a stacked bar, or a bar of a bar chart. */
export interface Part {
  /** What the part counts ("completed", "local", a provider's name): also its data-part attribute. */
  label: string;
  value: number;
  color: string;
}

export interface StackedBarOptions {
  width?: number;
  height?: number;
  /** Read by screen readers and shown as the chart's tooltip. */
  title: string;
}

/**
 * The parts side by side in one bar, each as wide as its share of the total; parts of value 0 draw nothing.
 * An empty total draws the empty track only.
 */
export function stackedBar(parts: Part[], { width = 240, height = 14, title }: StackedBarOptions): string {
  const total = parts.reduce((sum, p) => sum + Math.max(0, p.value), 0);
  let x = 0;
  const rects = parts
    .filter((p) => p.value > 0)
    .map((p) => {
      const w = (p.value / total) * width;
      const rect = `<rect class="part" data-part="${esc(p.label)}" data-value="${esc(p.value)}" x="${round(x)}" y="0" width="${round(w)}" height="${height}" fill="${esc(p.color)}"><title>${esc(p.label)}: ${esc(p.value)}</title></rect>`;
      x += w;
      return rect;
    });
  return `<svg class="chart stacked-bar" role="img" aria-label="${esc(title)}" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}"><title>${esc(title)}</title><rect class="track" width="${width}" height="${height}" fill="#edf2f7"/>${rects.join('')}</svg>`;
}

export interface BarChartOptions {
  title: string;
  width?: number;
  /** The value a full-width bar stands for; the largest value when not given. */
  max?: number;
  /** Written after each bar's value ("tok/s"). */
  unit?: string;
}

const BAR_HEIGHT = 16;
const BAR_GAP = 6;
const LABEL_WIDTH = 150;
const VALUE_WIDTH = 90;

/** One horizontal bar per part, labelled on the left and valued on the right. */
export function barChart(parts: Part[], { title, width = 520, max, unit = '' }: BarChartOptions): string {
  const scale = max ?? Math.max(0, ...parts.map((p) => p.value));
  const track = width - LABEL_WIDTH - VALUE_WIDTH;
  const height = Math.max(1, parts.length) * (BAR_HEIGHT + BAR_GAP);
  const rows = parts.map((p, i) => {
    const y = i * (BAR_HEIGHT + BAR_GAP);
    const w = scale > 0 ? (Math.min(p.value, scale) / scale) * track : 0;
    const value = `${round(p.value)}${unit ? ` ${unit}` : ''}`;
    return (
      `<g class="bar" data-part="${esc(p.label)}" data-value="${esc(p.value)}">` +
      `<text x="0" y="${y + 12}" font-size="12">${esc(p.label)}</text>` +
      `<rect x="${LABEL_WIDTH}" y="${y}" width="${round(w)}" height="${BAR_HEIGHT}" fill="${esc(p.color)}"><title>${esc(p.label)}: ${esc(value)}</title></rect>` +
      `<text x="${LABEL_WIDTH + track + 6}" y="${y + 12}" font-size="12">${esc(value)}</text></g>`
    );
  });
  return `<svg class="chart bar-chart" role="img" aria-label="${esc(title)}" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}"><title>${esc(title)}</title>${rows.join('')}</svg>`;
}

/** A move of an item to another place after it was first routed (epoch ms). */
export interface TimelineMove {
  at: number;
  /** 'escalation': moved ahead of its deadline; 'reroute': moved after a failure or a refusal. */
  kind: 'escalation' | 'reroute';
  /** Where it went, e.g. "cloud openai", for the tooltip. */
  to: string;
}

/** Where an item was routed, from when (epoch ms): its first route, then one per move. */
export interface TimelineLeg {
  from: number;
  target: 'local' | 'cloud';
  /** Provider and model, for the tooltip. */
  where: string;
}

/** One item on a timeline: when it was queued, ran and finished (epoch ms), and where it ran. */
export interface TimelineRow {
  label: string;
  status: string;
  queuedAt: number;
  /** Its first start, wherever that was. */
  startedAt: number | null;
  finishedAt: number | null;
  /** At least one; the last is where it ran (or will run), which data-target names. */
  legs: TimelineLeg[];
  moves: TimelineMove[];
}

export interface TimelineOptions {
  title: string;
  /** The time at the left edge (the batch's creation) and at the right edge (its end, or now). */
  from: number;
  to: number;
  width?: number;
  colors: { queued: string; local: string; cloud: string; failed: string };
}

const ROW_HEIGHT = 14;
const ROW_GAP = 4;
const AXIS_HEIGHT = 18;

/**
 * Gantt-like: per item a grey span while it waited (queued → started, or → now while still queued), then a
 * span coloured by where it ran (started → finished, or → now while running). A failed item's span is
 * outlined in the failure colour; escalations and reroutes are marked where they happened.
 */
export function timeline(rows: TimelineRow[], { title, from, to, width = 900, colors }: TimelineOptions): string {
  const track = width - LABEL_WIDTH;
  const span = Math.max(1, to - from);
  const xOf = (t: number) => LABEL_WIDTH + (Math.min(Math.max(t, from), to) - from) * (track / span);
  const height = AXIS_HEIGHT + Math.max(1, rows.length) * (ROW_HEIGHT + ROW_GAP);
  const body = rows.map((row, i) => {
    const y = AXIS_HEIGHT + i * (ROW_HEIGHT + ROW_GAP);
    const waitedUntil = row.startedAt ?? row.finishedAt ?? to;
    const parts = [
      `<text x="0" y="${y + 11}" font-size="11">${esc(clip(row.label, 22))}</text>`,
      span_('queued', row.queuedAt, waitedUntil, colors.queued, `${row.label}: queued`),
    ];
    if (row.startedAt !== null) {
      // The running time is split where the item moved: a call that failed on the cloud, then the local run.
      const end = row.finishedAt ?? to;
      row.legs.forEach((leg, j) => {
        const start = Math.max(row.startedAt!, leg.from);
        const until = Math.min(end, row.legs[j + 1]?.from ?? end);
        if (until <= start && j < row.legs.length - 1) return;
        const last = j === row.legs.length - 1;
        const failed = last && row.status === 'failed';
        const tip = last ? `${row.label}: ${row.status} on ${leg.where}` : `${row.label}: ran on ${leg.where}, moved`;
        parts.push(span_('running', start, until, colors[leg.target], tip, failed ? colors.failed : undefined));
      });
    }
    for (const move of row.moves) {
      const x = xOf(move.at);
      parts.push(
        `<path class="move" data-move="${move.kind}" d="M${round(x)} ${y - 2} l5 ${ROW_HEIGHT / 2 + 2} l-5 ${ROW_HEIGHT / 2 + 2} l-5 -${ROW_HEIGHT / 2 + 2} z" fill="#1a202c"><title>${esc(`${move.kind} to ${move.to}`)}</title></path>`,
      );
    }
    const target = row.legs[row.legs.length - 1].target;
    return `<g class="item" data-item="${esc(row.label)}" data-status="${esc(row.status)}" data-target="${target}">${parts.join('')}</g>`;

    function span_(kind: string, start: number, end: number, fill: string, tip: string, stroke?: string): string {
      const x = xOf(start);
      const w = Math.max(1, xOf(end) - x);
      const outline = stroke ? ` stroke="${esc(stroke)}" stroke-width="2"` : '';
      return `<rect class="span" data-span="${kind}" x="${round(x)}" y="${y}" width="${round(w)}" height="${ROW_HEIGHT}" fill="${esc(fill)}"${outline}><title>${esc(tip)}</title></rect>`;
    }
  });
  const axis =
    `<line x1="${LABEL_WIDTH}" y1="${AXIS_HEIGHT - 4}" x2="${width}" y2="${AXIS_HEIGHT - 4}" stroke="#a0aec0"/>` +
    `<text x="${LABEL_WIDTH}" y="11" font-size="11">0s</text>` +
    `<text x="${width}" y="11" font-size="11" text-anchor="end">${esc(round(span / 1000, 1))}s</text>`;
  return `<svg class="chart timeline" role="img" aria-label="${esc(title)}" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}"><title>${esc(title)}</title>${axis}${body.join('')}</svg>`;
}

function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}
