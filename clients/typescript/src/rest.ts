// REST: what an agent or a backend calls, with an Idempotency-Key on every write and retries of
// network errors, 5xx and 429 (after Retry-After) with the same key, so nothing applies twice.

import type { AgentRun, RunEvent, RunStatus } from './types.js';

export interface RunwireOptions {
  /** The server, e.g. http://127.0.0.1:3000 */
  url: string;
  /** An API token (`rw_...`). */
  token: string;
  /** Attempts per request before giving up (default 5). */
  retries?: number;
  fetch?: typeof fetch;
  /** The WebSocket class for live subscriptions (default: the global one). */
  WebSocket?: typeof WebSocket;
}

export class RunwireError extends Error {
  constructor(readonly status: number, readonly code: string, message: string, readonly field?: string) {
    super(`${status} ${code}: ${message}`);
    this.name = 'RunwireError';
  }
}

export interface NewRun {
  agent_name: string;
  task: string;
  task_id?: string;
  /** Whose run (a service token only): a runwire user id or an external id. */
  user_id?: string;
  status?: 'pending' | 'queued' | 'in_progress';
  step?: string;
  metadata?: Record<string, unknown>;
}

export interface RunPage { runs: AgentRun[]; next_cursor: string | null; last_event_id: number }

export interface ListQuery {
  status?: string; agent?: string; task_id?: string; q?: string; sort?: 'newest' | 'oldest' | 'longest';
  cursor?: string; limit?: number;
}

export class Runwire {
  readonly url: string;
  readonly token: string;
  readonly options: RunwireOptions;
  private readonly retries: number;
  private readonly fetcher: typeof fetch;

  constructor(options: RunwireOptions) {
    this.options = options;
    this.url = options.url.replace(/\/+$/, '');
    this.token = options.token;
    this.retries = options.retries ?? 5;
    this.fetcher = options.fetch ?? globalThis.fetch.bind(globalThis);
  }

  startRun(run: NewRun): Promise<AgentRun> { return this.write('/api/v1/runs', run); }
  updateProgress(runId: string, percent: number, step?: string): Promise<AgentRun> {
    return this.write(`/api/v1/runs/${runId}/progress`, { percent, step });
  }
  updateStatus(runId: string, status: RunStatus, step?: string): Promise<AgentRun> {
    return this.write(`/api/v1/runs/${runId}/status`, { status, step });
  }
  addVerification(runId: string, passed: boolean, evidence?: unknown): Promise<AgentRun> {
    return this.write(`/api/v1/runs/${runId}/verification`, { passed, evidence: evidence ?? null });
  }
  completeRun(runId: string, result?: unknown, evidence?: unknown): Promise<AgentRun> {
    return this.write(`/api/v1/runs/${runId}/complete`, { result, evidence });
  }
  failRun(runId: string, error: string): Promise<AgentRun> {
    return this.write(`/api/v1/runs/${runId}/fail`, { error });
  }
  cancelRun(runId: string, reason?: string): Promise<AgentRun> {
    return this.write(`/api/v1/runs/${runId}/cancel`, { reason });
  }
  getRun(runId: string): Promise<AgentRun> { return this.request('GET', `/api/v1/runs/${runId}`); }
  listRuns(query: ListQuery = {}): Promise<RunPage> {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) if (value !== undefined && value !== null) params.set(key, String(value));
    const text = params.toString();
    return this.request('GET', `/api/v1/runs${text ? `?${text}` : ''}`);
  }
  async events(runId: string, after = 0, limit = 1000): Promise<RunEvent[]> {
    const page = await this.request<{ events: RunEvent[] }>('GET', `/api/v1/runs/${runId}/events?after=${after}&limit=${limit}`);
    return page.events;
  }
  /** Starts a built-in agent's run (the replaced system's `POST /api/agents/run`). */
  triggerAgentRun(task: NewRun): Promise<AgentRun> { return this.write('/api/agents/run', task); }

  private write<T>(path: string, body: unknown): Promise<T> {
    return this.request('POST', path, body, crypto.randomUUID());
  }

  private async request<T>(method: string, path: string, body?: unknown, key?: string): Promise<T> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.token}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (key) headers['idempotency-key'] = key;
    let delay = 200;
    for (let attempt = 1; ; attempt++) {
      let response: Response | undefined;
      try {
        response = await this.fetcher(`${this.url}${path}`, {
          method, headers, body: body === undefined ? undefined : JSON.stringify(body, dropUndefined),
        });
      } catch (err) {
        if (attempt >= this.retries) throw err;
      }
      if (response) {
        const retryable = response.status >= 500 || response.status === 429;
        if (response.ok) return (await response.json()) as T;
        if (!retryable || attempt >= this.retries) throw await errorOf(response);
        const after = Number(response.headers.get('retry-after'));
        if (after > 0) delay = Math.max(delay, after * 1000);
      }
      await sleep(delay * (0.5 + Math.random()));
      delay = Math.min(delay * 2, 10_000);
    }
  }
}

function dropUndefined(_key: string, value: unknown) { return value === undefined ? undefined : value; }

async function errorOf(response: Response): Promise<RunwireError> {
  const text = await response.text();
  try {
    const body = JSON.parse(text);
    return new RunwireError(response.status, body.code ?? 'error', body.error ?? text, body.field);
  } catch {
    return new RunwireError(response.status, 'error', text);
  }
}

export function sleep(ms: number): Promise<void> { return new Promise((done) => setTimeout(done, ms)); }
