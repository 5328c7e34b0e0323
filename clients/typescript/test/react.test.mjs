// The React hooks against a running runwire: a list read over REST, then kept current live.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import React from 'react';
import TestRenderer from 'react-test-renderer';
import { createRunwire } from '../dist/index.js';
import { configureRunwire, useAgentRuns, useAgentRun, useActiveAgentRuns } from '../dist/react.js';

globalThis.IS_REACT_ACT_ENVIRONMENT = false;
const url = process.env.RUNWIRE_URL;
const token = process.env.RUNWIRE_TOKEN;

const until = async (what, check, ms = 15_000) => {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((done) => setTimeout(done, 20));
  }
};

test('hooks: useAgentRuns, useAgentRun and useActiveAgentRuns follow runs live', async () => {
  configureRunwire({ url, token });
  const task = `task_hooks_${crypto.randomUUID().slice(0, 8)}`;
  const runwire = createRunwire({ url, token });
  const before = await runwire.startRun({ agent_name: 'hooks', task: 'there before', task_id: task });

  const seen = { list: null, one: null, active: null };
  function Watcher({ runId }) {
    seen.list = useAgentRuns(task, 'hooks');
    seen.one = useAgentRun(runId);
    seen.active = useActiveAgentRuns();
    return null;
  }
  const view = TestRenderer.create(React.createElement(Watcher, { runId: before.id }));
  try {
    await watch(runwire, seen, before, task);
  } finally {
    view.unmount(); // closes the hooks' live sockets
  }
});

async function watch(runwire, seen, before, task) {
  const read = () => seen.list && !seen.list.loading && !seen.one.loading && !seen.active.loading;
  await until('the first read', read);
  assert.equal(seen.list.error, null);
  assert.deepEqual(seen.list.runs.map((r) => r.id), [before.id]);
  assert.equal(seen.one.run.id, before.id);

  // a new run of the task arrives live; progress and the end of the watched run too
  const after = await runwire.startRun({ agent_name: 'hooks', task: 'arrives live', task_id: task });
  await runwire.startRun({ agent_name: 'other', task: 'another task' });
  await until('the new run', () => seen.list.runs.length === 2);
  assert.equal(seen.list.runs[0].id, after.id, 'newest first');
  await runwire.updateProgress(before.id, 55, 'Halfway');
  await until('the progress', () => seen.one.run?.progress_percent === 55);
  assert.equal(seen.one.run.current_step, 'Halfway');
  assert.ok(seen.active.runs.some((r) => r.id === before.id));
  await runwire.completeRun(before.id, { ok: true });
  await until('the end', () => seen.one.run?.status === 'completed');
  await until('the active list to drop it', () => !seen.active.runs.some((r) => r.id === before.id));
  assert.ok(seen.active.runs.some((r) => r.id === after.id));
}
