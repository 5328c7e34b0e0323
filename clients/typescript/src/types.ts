// The shapes runwire's REST API and live stream speak (snake_case, as on the wire).

export type RunStatus =
  | 'pending' | 'queued' | 'in_progress' | 'paused' | 'awaiting_verification' | 'verifying'
  | 'retrying' | 'completed' | 'failed' | 'cancelled' | 'timed_out';

export const TERMINAL_STATUSES: readonly RunStatus[] = ['completed', 'failed', 'cancelled', 'timed_out'];

export interface VerificationAttempt { attempt: number; passed: boolean; evidence: unknown; at: string }

export interface AgentRun {
  id: string;
  task_id: string;
  user_id: string;
  agent_name: string;
  task: string;
  status: RunStatus;
  progress_percent: number;
  current_step: string | null;
  attempt: number;
  result: unknown;
  error: string | null;
  verification_evidence: VerificationAttempt[];
  metadata: Record<string, unknown>;
  tokens_in: number | null;
  tokens_out: number | null;
  cost_usd: number | null;
  created_at: string;
  started_at: string | null;
  completed_at: string | null;
  updated_at: string;
}

export type RunEventKind =
  | 'started' | 'progress' | 'status' | 'verification' | 'completed' | 'failed' | 'cancelled'
  | 'timed_out' | 'span_started' | 'span_updated' | 'span_ended';

export interface RunEvent {
  id: number;
  run_id: string;
  user_id: string;
  kind: RunEventKind;
  status: RunStatus;
  progress: number | null;
  step: string | null;
  payload: Record<string, unknown>;
  created_at: string;
}

/** Which runs to watch; every field left out matches everything. */
export interface RunFilter {
  statuses?: RunStatus[];
  active_only?: boolean;
  agent_name?: string | null;
  /** A UUID, or the text runs were started with ("task_123"). */
  task_id?: string | null;
  run_id?: string | null;
  search?: string | null;
}

export type LiveMessage =
  | { type: 'run'; run: AgentRun; as_of: number }
  | { type: 'event'; event: RunEvent }
  | { type: 'ready'; last_event_id: number }
  | { type: 'heartbeat'; last_event_id: number }
  | { type: 'resync'; reason: string }
  | { type: 'error'; message: string };

/** A run as its events change it: the same folding the server and the dashboard do. */
export function foldEvent(run: AgentRun, event: RunEvent): AgentRun {
  const next: AgentRun = { ...run, updated_at: event.created_at };
  if (event.status !== run.status) {
    if (event.status === 'retrying') next.attempt = run.attempt + 1;
    if (event.status === 'in_progress' && !run.started_at) next.started_at = event.created_at;
    if (TERMINAL_STATUSES.includes(event.status)) next.completed_at = event.created_at;
    next.status = event.status;
  }
  if (event.progress !== null) next.progress_percent = event.progress;
  next.current_step = event.step;
  const payload = event.payload ?? {};
  switch (event.kind) {
    case 'verification':
      if (typeof payload.passed === 'boolean') {
        next.verification_evidence = [...run.verification_evidence, {
          attempt: typeof payload.attempt === 'number' ? payload.attempt : run.attempt,
          passed: payload.passed, evidence: payload.evidence ?? null, at: event.created_at,
        }];
      }
      break;
    case 'completed':
      if ('result' in payload) next.result = payload.result ?? null;
      break;
    case 'failed':
      if (typeof payload.error === 'string') next.error = payload.error;
      break;
    case 'cancelled':
      if ('reason' in payload) next.error = typeof payload.reason === 'string' ? payload.reason : null;
      break;
    case 'span_started': case 'span_updated': case 'span_ended':
      next.tokens_in = (payload.run_tokens_in as number | null) ?? null;
      next.tokens_out = (payload.run_tokens_out as number | null) ?? null;
      next.cost_usd = (payload.run_cost_usd as number | null) ?? null;
      break;
  }
  return next;
}
