// The live run stream: runwire's WebSocket protocol (binary frames: a tag byte, 0 for a value, then
// JSON; the server sends arrays of messages). The token travels in the first message, never in the
// URL. A cut connection is reopened with backoff and resumes after the last event seen, so no event
// is lost or delivered twice; a "resync" (the client fell too far behind) reloads through
// `onResync` and resumes from the cursor it returns.

import type { AgentRun, LiveMessage, RunEvent, RunFilter } from './types.js';
import { foldEvent } from './types.js';

export type LiveState = 'connecting' | 'live' | 'reconnecting' | 'closed';

export interface SubscribeHandlers {
  /** An event, with its run as it stood after it. Ids arrive strictly increasing, never twice. */
  onEvent?: (event: RunEvent, run: AgentRun | undefined) => void;
  /** A run's snapshot (before its first event on a connection). */
  onRun?: (run: AgentRun) => void;
  onState?: (state: LiveState, detail?: string) => void;
  /** The server refused the subscription (a bad token, a bad filter): it is not retried. */
  onError?: (message: string) => void;
  /** The client fell behind and must reload what it shows; returns the cursor to resume after. */
  onResync?: (reason: string) => Promise<number> | number;
}

export interface SubscribeOptions {
  url: string;
  token: string;
  /** Resume after this event id (0: replay everything the filter matches). */
  afterEventId?: number;
  WebSocket?: typeof WebSocket;
  /** Longest wait between reconnects, ms (default 10 s). */
  maxBackoffMs?: number;
}

export interface Subscription {
  /** The last event id seen: where a new subscription would resume. */
  readonly lastEventId: number;
  readonly state: LiveState;
  close(): void;
}

const PING_EVERY_MS = 15_000;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

function frame(message: unknown): Uint8Array {
  const json = encoder.encode(JSON.stringify(message));
  const bytes = new Uint8Array(json.length + 1);
  bytes[0] = 0;
  bytes.set(json, 1);
  return bytes;
}

function wireFilter(filter: RunFilter) {
  return {
    statuses: filter.statuses ?? [], active_only: filter.active_only ?? false,
    agent_name: filter.agent_name ?? null, task_id: filter.task_id ?? null,
    run_id: filter.run_id ?? null, search: filter.search ?? null,
  };
}

export function subscribeRuns(options: SubscribeOptions, filter: RunFilter, handlers: SubscribeHandlers): Subscription {
  const Socket = options.WebSocket ?? globalThis.WebSocket;
  if (!Socket) throw new Error('no WebSocket: pass options.WebSocket (Node 20: run with --experimental-websocket)');
  const liveUrl = `${options.url.replace(/\/+$/, '').replace(/^http/, 'ws')}/api/live_runs`;
  const runs = new Map<string, AgentRun>();
  let lastEventId = options.afterEventId ?? 0;
  let state: LiveState = 'connecting';
  let closed = false;
  let socket: WebSocket | undefined;
  let ping: ReturnType<typeof setInterval> | undefined;
  let backoff = 250;
  const maxBackoff = options.maxBackoffMs ?? 10_000;

  const setState = (next: LiveState, detail?: string) => {
    if (state !== next) { state = next; handlers.onState?.(next, detail); }
  };

  const receive = async (message: LiveMessage) => {
    switch (message.type) {
      case 'run':
        runs.set(message.run.id, message.run);
        handlers.onRun?.(message.run);
        break;
      case 'event': {
        const event = message.event;
        if (event.id <= lastEventId) return; // already delivered before a reconnect
        lastEventId = event.id;
        const before = runs.get(event.run_id);
        const after = before ? foldEvent(before, event) : undefined;
        if (after) runs.set(event.run_id, after);
        handlers.onEvent?.(event, after);
        break;
      }
      case 'ready':
        lastEventId = Math.max(lastEventId, message.last_event_id);
        backoff = 250;
        setState('live');
        break;
      case 'heartbeat':
        socket?.send(frame({ type: 'ping' }));
        break;
      case 'resync': {
        teardown();
        setState('reconnecting', message.reason);
        runs.clear();
        if (handlers.onResync) lastEventId = await handlers.onResync(message.reason);
        if (!closed) connect();
        break;
      }
      case 'error':
        closed = true;
        teardown();
        handlers.onError?.(message.message);
        setState('closed', message.message);
        break;
    }
  };

  const teardown = () => {
    if (ping) clearInterval(ping);
    ping = undefined;
    const old = socket;
    socket = undefined;
    if (old) { old.onclose = null; old.onmessage = null; old.onerror = null; old.close(); }
  };

  const reconnectLater = () => {
    teardown();
    if (closed) return;
    setState('reconnecting');
    const wait = backoff * (0.5 + Math.random());
    backoff = Math.min(backoff * 2, maxBackoff);
    setTimeout(() => { if (!closed) connect(); }, wait);
  };

  // messages are handled one after another, in order, even when one waits (a resync's reload)
  let queue: Promise<void> = Promise.resolve();

  const connect = () => {
    const ws = new Socket(liveUrl);
    socket = ws;
    ws.binaryType = 'arraybuffer';
    ws.onopen = () => {
      ws.send(frame({ type: 'authenticate', token: options.token }));
      ws.send(frame({ type: 'subscribe', filter: wireFilter(filter), after_event_id: lastEventId }));
      ping = setInterval(() => ws.send(frame({ type: 'ping' })), PING_EVERY_MS);
    };
    ws.onmessage = (message: MessageEvent) => {
      const bytes = new Uint8Array(message.data as ArrayBuffer);
      const text = decoder.decode(bytes[0] === 0x5b ? bytes : bytes.subarray(1)); // 0x5b: '['
      if (bytes[0] === 1) { queue = queue.then(() => receive({ type: 'error', message: text })); return; }
      const parsed = JSON.parse(text) as LiveMessage | LiveMessage[];
      for (const item of Array.isArray(parsed) ? parsed : [parsed]) {
        queue = queue.then(() => { if (socket === ws) return receive(item); });
      }
    };
    ws.onclose = () => { if (socket === ws) reconnectLater(); };
    ws.onerror = () => { if (socket === ws) reconnectLater(); };
  };

  connect();
  return {
    get lastEventId() { return lastEventId; },
    get state() { return state; },
    close() { closed = true; teardown(); setState('closed'); },
  };
}
