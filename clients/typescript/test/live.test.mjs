// Against a running runwire (RUNWIRE_URL, RUNWIRE_TOKEN; tests/typescript_client.rs starts one):
// REST through createRunwire, and the live stream cut mid-way and resumed with nothing lost or doubled.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRunwire, RunwireError } from '../dist/index.js';

const url = process.env.RUNWIRE_URL;
const token = process.env.RUNWIRE_TOKEN;
assert.ok(url && token, 'set RUNWIRE_URL and RUNWIRE_TOKEN');

// A WebSocket the test can cut, as a network would.
const opened = [];
class CuttableSocket extends WebSocket {
  constructor(address) { super(address); opened.push(this); }
}

const until = async (what, check, ms = 15_000) => {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((done) => setTimeout(done, 20));
  }
};

test('REST: a run walks to completion from awaiting verification; errors are typed', async () => {
  const runwire = createRunwire({ url, token });
  const task = `task_ts_${crypto.randomUUID().slice(0, 8)}`;
  const run = await runwire.startRun({ agent_name: 'ts-rest', task: 'a REST walk', task_id: task });
  assert.equal(run.status, 'in_progress');
  assert.equal(run.metadata.task_ref, task);
  await runwire.updateProgress(run.id, 40, 'Working');
  await runwire.updateStatus(run.id, 'awaiting_verification', 'Verifying');
  const done = await runwire.completeRun(run.id, { answer: 42 });
  assert.equal(done.status, 'completed');
  assert.deepEqual(done.result, { answer: 42 });
  const page = await runwire.listRuns({ task_id: task });
  assert.deepEqual(page.runs.map((r) => r.id), [run.id]);
  await assert.rejects(runwire.getRun(crypto.randomUUID()), (err) => err instanceof RunwireError && err.status === 404);
  await assert.rejects(runwire.updateProgress(run.id, 50), (err) => err.status === 409 && err.code === 'conflict');
});

test('live: cut twice mid-stream, every event arrives once and in order, runs folded', async () => {
  const runwire = createRunwire({ url, token, WebSocket: CuttableSocket });
  const before = (await runwire.listRuns({ limit: 1 })).last_event_id;
  const seen = [];
  const states = [];
  const latest = new Map();
  const subscription = runwire.subscribeRuns({ agent_name: 'ts-live' }, {
    onEvent: (event, run) => { seen.push(event.id); if (run) latest.set(run.id, run); },
    onState: (state) => states.push(state),
  }, before);
  await until('live', () => subscription.state === 'live');

  const run = await runwire.startRun({ agent_name: 'ts-live', task: 'resume test' });
  const publishing = (async () => {
    for (let percent = 1; percent <= 60; percent++) {
      await runwire.updateProgress(run.id, percent, `step ${percent}`);
    }
    await runwire.completeRun(run.id, { steps: 60 });
  })();
  // cut twice: each time the client opens a new socket and resumes after its last event
  for (const [cut, sockets] of [[15, 2], [35, 3]]) {
    await until(`${cut} events`, () => seen.length >= cut);
    opened.at(-1).close();
    await until(`socket ${sockets}`, () => opened.length >= sockets);
  }
  await publishing;

  const expected = (await runwire.events(run.id)).map((event) => event.id);
  assert.equal(expected.length, 62); // started, 60 progress, completed
  await until('every event', () => seen.length >= expected.length);
  await new Promise((done) => setTimeout(done, 300)); // nothing more, nothing twice
  subscription.close();
  assert.deepEqual(seen, expected, 'each event exactly once, in order');
  assert.ok(states.includes('reconnecting'), states.join(','));
  const folded = latest.get(run.id);
  assert.equal(folded.status, 'completed');
  assert.equal(folded.progress_percent, 100);
  assert.deepEqual(folded.result, { steps: 60 });
});

test('live: a wrong token is refused and not retried', async () => {
  const runwire = createRunwire({ url, token: 'rw_wrong' });
  let refused;
  const subscription = runwire.subscribeRuns({}, { onError: (message) => { refused = message; } });
  await until('the refusal', () => refused !== undefined);
  assert.match(refused, /sign in/);
  assert.equal(subscription.state, 'closed');
});
