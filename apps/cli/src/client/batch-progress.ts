/** The part of GET /v1/batches/:id a progress line shows. */
export interface BatchProgressView {
  id: string;
  status: string;
  counts: { total: number; queued: number; running: number; completed: number; failed: number; cancelled: number };
  routes?: { local: number; cloud: number };
  cost?: { usd: number };
  finishedAt?: string | null;
}

/** One line for a terminal: a bar of the finished share, then counts, routes and cost so far. */
export function progressLine(view: BatchProgressView, width = 30): string {
  const { total, queued, running, completed, failed, cancelled } = view.counts;
  const finished = completed + failed + cancelled;
  const filled = total === 0 ? width : Math.round((finished / total) * width);
  const bar = '#'.repeat(filled) + '-'.repeat(width - filled);
  const parts = [
    `[${bar}] ${finished}/${total}`,
    `completed ${completed}`,
    ...(failed > 0 ? [`failed ${failed}`] : []),
    ...(cancelled > 0 ? [`cancelled ${cancelled}`] : []),
    `running ${running}`,
    `queued ${queued}`,
  ];
  if (view.routes) parts.push(`local ${view.routes.local} · cloud ${view.routes.cloud}`);
  if (view.cost) parts.push(`$${view.cost.usd.toFixed(4)}`);
  return parts.join('  ');
}
