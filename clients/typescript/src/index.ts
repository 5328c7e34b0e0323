// runwire for TypeScript, with no runtime dependencies: `createRunwire` for REST and
// `subscribeRuns` for the live stream (resume, reconnect, resync). React hooks: `@runwire/client/react`.

import { Runwire, type RunwireOptions } from './rest.js';
import { subscribeRuns as subscribe, type SubscribeHandlers, type Subscription } from './live.js';
import type { RunFilter } from './types.js';

export * from './types.js';
export { Runwire, RunwireError, type RunwireOptions, type NewRun, type RunPage, type ListQuery } from './rest.js';
export type { LiveState, SubscribeHandlers, SubscribeOptions, Subscription } from './live.js';

export interface RunwireClient extends Runwire {
  /** Watches the runs `filter` matches, resuming after `afterEventId`. */
  subscribeRuns(filter: RunFilter, handlers: SubscribeHandlers, afterEventId?: number): Subscription;
}

export function createRunwire(options: RunwireOptions): RunwireClient {
  const client = new Runwire(options) as RunwireClient;
  client.subscribeRuns = (filter, handlers, afterEventId = 0) =>
    subscribe({ url: options.url, token: options.token, afterEventId, WebSocket: options.WebSocket }, filter, handlers);
  return client;
}

export { subscribe as subscribeRunsWith };
