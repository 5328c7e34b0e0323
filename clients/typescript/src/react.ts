// React hooks with the names and shapes of the replaced event bridge's (Supabase realtime) hooks:
// a list read over REST, then kept current by the live stream from that list's cursor, so no event
// between the read and the subscription is missed. Configure once with `configureRunwire`.

import { useEffect, useState } from 'react';
import { createRunwire, type RunwireClient } from './index.js';
import type { RunwireOptions, NewRun } from './rest.js';
import type { AgentRun, RunFilter } from './types.js';
import { TERMINAL_STATUSES } from './types.js';

let configured: RunwireClient | undefined;

/** Sets the server and token every hook uses. */
export function configureRunwire(options: RunwireOptions): RunwireClient {
  configured = createRunwire(options);
  return configured;
}

function client(): RunwireClient {
  if (!configured) throw new Error('call configureRunwire({ url, token }) before using the runwire hooks');
  return configured;
}

export interface RunsState { runs: AgentRun[]; loading: boolean; error: Error | null }

function useRuns(filter: RunFilter, key: string): RunsState {
  const [state, setState] = useState<RunsState>({ runs: [], loading: true, error: null });
  useEffect(() => {
    let stopped = false;
    let subscription: { close(): void } | undefined;
    const runwire = client();
    // the list first, its cursor with it: the subscription resumes there, so nothing in between is missed
    const load = async () => {
      const page = await runwire.listRuns({
        agent: filter.agent_name ?? undefined, task_id: filter.task_id ?? undefined,
        status: filter.active_only ? 'active' : undefined, limit: filter.run_id ? 1 : 200,
      });
      const runs = filter.run_id ? [await runwire.getRun(filter.run_id)] : page.runs;
      if (!stopped) setState({ runs, loading: false, error: null });
      return page.last_event_id;
    };
    const upsert = (run: AgentRun) => setState((old) => {
      const others = old.runs.filter((r) => r.id !== run.id);
      const gone = filter.active_only && TERMINAL_STATUSES.includes(run.status);
      return { ...old, runs: gone ? others : [run, ...others] };
    });
    load().then((cursor) => {
      if (stopped) return;
      subscription = runwire.subscribeRuns(filter, {
        onRun: upsert,
        onEvent: (_event, run) => { if (run) upsert(run); },
        onResync: () => load(),
        onError: (message) => setState((old) => ({ ...old, error: new Error(message) })),
      }, cursor);
    }).catch((error: Error) => { if (!stopped) setState({ runs: [], loading: false, error }); });
    return () => { stopped = true; subscription?.close(); };
  }, [key]);
  return state;
}

/** Runs of a task and/or an agent, newest first, live. */
export function useAgentRuns(taskId?: string, agentName?: string): RunsState {
  const filter: RunFilter = { task_id: taskId ?? null, agent_name: agentName ?? null };
  return useRuns(filter, `runs:${taskId ?? ''}:${agentName ?? ''}`);
}

/** Unfinished runs, live: a run leaves the list when it finishes. */
export function useActiveAgentRuns(): RunsState {
  return useRuns({ active_only: true }, 'active');
}

/** One run, live. */
export function useAgentRun(runId: string): { run: AgentRun | null; loading: boolean; error: Error | null } {
  const { runs, loading, error } = useRuns({ run_id: runId }, `run:${runId}`);
  return { run: runs[0] ?? null, loading, error };
}

/** Starts a built-in agent's run (the replaced system's `triggerAgentRun`). */
export function triggerAgentRun(task: NewRun): Promise<AgentRun> {
  return client().triggerAgentRun(task);
}
