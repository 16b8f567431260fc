/** Where an item runs: on premises (a local model pool) or at a cloud provider. */
export type RouteTarget = 'local' | 'cloud';
