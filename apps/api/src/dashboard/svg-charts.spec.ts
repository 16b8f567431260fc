import { describe, expect, it } from '@jest/globals';
import { barChart, stackedBar, timeline, type TimelineRow } from './svg-charts.js';

const COLORS = { queued: '#ccc', local: '#00f', cloud: '#f80', failed: '#f00' };

/** The attributes of every element with `tag` and class `cls`, in order. */
function shapes(svg: string, tag: string, cls: string): Array<Record<string, string>> {
  return [...svg.matchAll(new RegExp(`<${tag} class="${cls}"([^>]*)>`, 'g'))].map(([, attrs]) =>
    Object.fromEntries([...attrs.matchAll(/([\w-]+)="([^"]*)"/g)].map(([, k, v]) => [k, v])),
  );
}

describe('stackedBar', () => {
  it('gives each non-empty part its share of the width, in order, in its colour', () => {
    const svg = stackedBar(
      [
        { label: 'local', value: 3, color: '#00f' },
        { label: 'none', value: 0, color: '#000' },
        { label: 'cloud', value: 1, color: '#f80' },
      ],
      { title: 'routes', width: 200 },
    );
    const parts = shapes(svg, 'rect', 'part');
    expect(parts.map((p) => [p['data-part'], p.x, p.width, p.fill])).toEqual([
      ['local', '0', '150', '#00f'],
      ['cloud', '150', '50', '#f80'],
    ]);
  });

  it('draws only the track when there is nothing to count', () => {
    const svg = stackedBar([{ label: 'local', value: 0, color: '#00f' }], { title: 'empty' });
    expect(shapes(svg, 'rect', 'part')).toHaveLength(0);
    expect(svg).toContain('class="track"');
    expect(svg).not.toContain('NaN');
  });

  it('escapes labels and titles', () => {
    const svg = stackedBar([{ label: '<script>x</script>', value: 1, color: '#000' }], { title: '"><img src=x>' });
    expect(svg).not.toMatch(/<script|<img/);
    expect(svg).toContain('&#60;script&#62;');
  });
});

describe('barChart', () => {
  it('scales bars to the largest value, or to the given max, and writes each value with its unit', () => {
    const parts = [
      { label: 'a', value: 10, color: '#111' },
      { label: 'b', value: 5, color: '#222' },
    ];
    const widths = (svg: string) => [...svg.matchAll(/<rect x="150" y="\d+" width="([\d.]+)"/g)].map((m) => m[1]);
    // 520 wide − 150 for labels − 90 for values: a 280 px track.
    expect(widths(barChart(parts, { title: 't' }))).toEqual(['280', '140']);
    expect(widths(barChart(parts, { title: 't', max: 20 }))).toEqual(['140', '70']);
    expect(barChart(parts, { title: 't', unit: 'tok/s' })).toContain('>10 tok/s</text>');
  });

  it('draws zero-width bars when every value is 0', () => {
    const svg = barChart([{ label: 'idle', value: 0, color: '#111' }], { title: 't' });
    expect(svg).toContain('width="0"');
    expect(svg).not.toContain('NaN');
  });
});

describe('timeline', () => {
  const row = (over: Partial<TimelineRow>): TimelineRow => ({
    label: 'item',
    status: 'completed',
    queuedAt: 0,
    startedAt: 250,
    finishedAt: 750,
    legs: [{ from: 0, target: 'local', where: 'local tiny (tiny)' }],
    moves: [],
    ...over,
  });
  // 1000 wide − 150 for labels: 850 px for 1000 ms.
  const draw = (rows: TimelineRow[]) => timeline(rows, { title: 't', from: 0, to: 1000, width: 1000, colors: COLORS });

  it('draws a queued span, then a running span coloured by where the item ran', () => {
    const cloud = { from: 0, target: 'cloud' as const, where: 'cloud frontier (m)' };
    const spans = shapes(draw([row({}), row({ label: 'c', legs: [cloud] })]), 'rect', 'span');
    expect(spans.map((s) => [s['data-span'], s.x, s.width, s.fill])).toEqual([
      ['queued', '150', '212.5', '#ccc'],
      ['running', '362.5', '425', '#00f'],
      ['queued', '150', '212.5', '#ccc'],
      ['running', '362.5', '425', '#f80'],
    ]);
  });

  it('runs a waiting item’s queued span to the right edge, and draws no running span', () => {
    const svg = draw([row({ status: 'queued', startedAt: null, finishedAt: null })]);
    expect(shapes(svg, 'rect', 'span').map((s) => [s['data-span'], s.width])).toEqual([['queued', '850']]);
  });

  it('outlines a failed item in the failure colour and marks each move where it happened', () => {
    const svg = draw([
      row({
        status: 'failed',
        legs: [
          { from: 0, target: 'local', where: 'local tiny (tiny)' },
          { from: 200, target: 'cloud', where: 'cloud frontier (m)' },
          { from: 500, target: 'local', where: 'local tiny (tiny)' },
        ],
        moves: [
          { at: 200, kind: 'escalation', to: 'cloud openai' },
          { at: 500, kind: 'reroute', to: 'local tiny' },
        ],
      }),
    ]);
    // Escalated before it started: nothing ran locally first. Then cloud from its start (250) to the reroute
    // (500), then local to the end (750), outlined as failed.
    expect(shapes(svg, 'rect', 'span').map((s) => [s['data-span'], s.x, s.width, s.fill, s.stroke])).toEqual([
      ['queued', '150', '212.5', '#ccc', undefined],
      ['running', '362.5', '212.5', '#f80', undefined],
      ['running', '575', '212.5', '#00f', '#f00'],
    ]);
    expect(shapes(svg, 'path', 'move').map((m) => [m['data-move'], m.d.split(' ')[0]])).toEqual([
      ['escalation', 'M320'],
      ['reroute', 'M575'],
    ]);
  });
});
