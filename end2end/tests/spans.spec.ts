import { test, expect } from './fixtures';
import { agentCall, createToken, signUpFresh, startRun, waitForHydration } from './helpers';

// A run's spans on its page: the waterfall fills in live as the agent reports, a running span's
// duration ticks, a click shows a call's model, tokens and cost, and the run shows its totals.
test('the span waterfall grows live and a span opens to its model, tokens and cost', async ({ page }) => {
  await signUpFresh(page, 'e2e-spans');
  const token = await createToken(page);
  const runId = await startRun(page, token, 'researcher', 'answer with a trace');
  const spans = `/api/v1/runs/${runId}/spans`;
  await agentCall(page, token, spans, { spans: [{ span_id: 'agent', kind: 'agent', name: 'researcher' }] });

  await page.goto(`/runs/${runId}`);
  await waitForHydration(page);
  const waterfall = page.getByRole('region', { name: 'Spans' }).or(page.locator('section.waterfall'));
  const agent = page.locator('.span-line[data-span-id="agent"]');
  await expect(agent).toHaveAttribute('data-status', 'running');
  await expect(page.getByTestId('run-cost')).toHaveText('—');
  // a running span's duration grows with the clock
  const first = await agent.getByTestId('span-duration').textContent();
  await expect(agent.getByTestId('span-duration')).not.toHaveText(first ?? '', { timeout: 5_000 });

  // an LLM call arrives already ended, a child of the agent span: it shows up without a reload
  await agentCall(page, token, spans, {
    spans: [{
      span_id: 'call-1', parent_span_id: 'agent', kind: 'llm', name: 'chat', model: 'gpt-4o-mini',
      input_tokens: 1200, output_tokens: 300, input: 'What is the capital of France?', output: 'Paris.', status: 'ok',
    }],
  });
  const call = page.locator('.span-line[data-span-id="call-1"]');
  await expect(call).toHaveAttribute('data-status', 'ok');
  await expect(call).toHaveClass(/depth-1/);
  await expect(page.getByTestId('run-tokens')).toHaveText('1,200 in · 300 out');
  // gpt-4o-mini: 1200 x 0.15 + 300 x 0.60 per million = $0.00036
  await expect(page.getByTestId('run-cost')).toHaveText('$0.0004');

  await call.getByRole('button').click();
  const details = page.getByTestId('span-details');
  await expect(details.getByTestId('span-model')).toHaveText('gpt-4o-mini');
  await expect(details.getByTestId('span-input-tokens')).toHaveText('1,200');
  await expect(details.getByTestId('span-cost')).toHaveText('$0.0004');
  await expect(details.getByText('What is the capital of France?')).toBeVisible();

  // an unknown model's cost is unknown, not $0; the agent span ends with an error, live
  await agentCall(page, token, spans, {
    spans: [
      { span_id: 'call-2', parent_span_id: 'agent', kind: 'llm', name: 'chat', model: 'in-house-7b', input_tokens: 10, output_tokens: 2, status: 'ok' },
      { span_id: 'agent', status: 'error', error: 'gave up' },
    ],
  });
  await expect(agent).toHaveAttribute('data-status', 'error');
  await page.locator('.span-line[data-span-id="call-2"]').getByRole('button').click();
  await expect(details.getByTestId('span-cost')).toHaveText('—');
  await expect(waterfall.locator('.span-line')).toHaveCount(3);
});

test('the dashboard shows tokens and cost for the window, by agent and by model', async ({ page }) => {
  await signUpFresh(page, 'e2e-usage');
  const token = await createToken(page);
  const runId = await startRun(page, token, 'writer', 'a run with calls');
  await agentCall(page, token, `/api/v1/runs/${runId}/spans`, {
    spans: [
      { span_id: 'a', kind: 'llm', name: 'chat', model: 'gpt-4o', input_tokens: 100000, output_tokens: 10000, status: 'ok' },
      { span_id: 'b', kind: 'llm', name: 'chat', model: 'in-house-7b', input_tokens: 10, output_tokens: 1, status: 'ok' },
    ],
  });
  await page.goto('/dashboard');
  await waitForHydration(page);
  // 100k in at $2.50 and 10k out at $10.00 per million: $0.35
  await expect(page.locator('[data-stat="tokens"] .stat-value')).toHaveText('110,011');
  await expect(page.locator('[data-stat="cost"] .stat-value')).toHaveText('$0.35');
  await expect(page.getByTestId('trend-cost')).toHaveText('cost (peak $0.35)');
  await expect(page.locator('[data-usage="agent"] tr[data-name="writer"]')).toContainText('$0.35');
  await expect(page.locator('[data-usage="model"] tr[data-name="gpt-4o"] [data-testid="usage-cost"]')).toHaveText('$0.35');
  await expect(page.locator('[data-usage="model"] tr[data-name="in-house-7b"] [data-testid="usage-cost"]')).toHaveText('—');
});

test('the replay scrubber moves through a finished run, by arrow keys and by link', async ({ page }) => {
  await signUpFresh(page, 'e2e-replay');
  const token = await createToken(page);
  const runId = await startRun(page, token, 'replayer', 'a run to replay');
  const spans = `/api/v1/runs/${runId}/spans`;
  await agentCall(page, token, spans, { spans: [{ span_id: 'plan', kind: 'llm', name: 'planning call' }] });
  await agentCall(page, token, `/api/v1/runs/${runId}/progress`, { percent: 40, step: 'Halfway' });
  await agentCall(page, token, spans, { spans: [{ span_id: 'plan', status: 'ok' }] });
  await agentCall(page, token, `/api/v1/runs/${runId}/complete`, { result: { ok: true } });

  await page.goto(`/runs/${runId}`);
  await waitForHydration(page);
  const moment = page.getByTestId('replay-moment');
  const state = page.locator('.replay-state');
  const open = page.getByTestId('replay-open-spans');
  // it starts at the newest event: the run as it ended
  await expect(moment).toContainText('Event 5 of 5');
  await expect(state).toHaveAttribute('data-status', 'completed');
  await expect(open).toHaveText('No span open');

  // arrow keys step back through the events; the URL follows
  const slider = page.getByRole('slider', { name: 'Event' });
  await slider.focus();
  await page.keyboard.press('ArrowLeft');
  await page.keyboard.press('ArrowLeft');
  await expect(moment).toContainText('Event 3 of 5');
  await expect(state).toHaveAttribute('data-status', 'in_progress');
  await expect(state.locator('.replay-step')).toHaveText('Halfway');
  await expect(open).toHaveText('Open: planning call');
  const at = await moment.getAttribute('data-event-id');
  await expect(page).toHaveURL(new RegExp(`\\?at=${at}$`));

  // the link opens that very moment
  await page.goto(`/runs/${runId}?at=${at}`);
  await waitForHydration(page);
  await expect(moment).toContainText('Event 3 of 5');
  await expect(open).toHaveText('Open: planning call');
  await page.getByRole('button', { name: 'Previous event' }).click();
  await page.getByRole('button', { name: 'Previous event' }).click();
  await expect(moment).toContainText('Event 1 of 5');
  await expect(open).toHaveText('No span open');
  await expect(page.getByRole('button', { name: 'Previous event' })).toBeDisabled();
  await page.getByRole('button', { name: 'Next event' }).click();
  await expect(moment).toContainText('Event 2 of 5');
  await expect(open).toHaveText('Open: planning call');
});

test('a run with many spans opens with the first 100 spans and the newest 50 events, and shows more on request', async ({ page }) => {
  await signUpFresh(page, 'e2e-many-spans');
  const token = await createToken(page);
  const runId = await startRun(page, token, 'chatty', 'a run with many spans');
  const spans = Array.from({ length: 250 }, (_, n) => ({
    span_id: `s${n}`, kind: 'step', name: `step ${n}`, status: 'ok',
    started_at: new Date(Date.UTC(2026, 0, 1, 0, 0, 0, n)).toISOString(),
  }));
  await agentCall(page, token, `/api/v1/runs/${runId}/spans`, { spans });
  await page.goto(`/runs/${runId}`);
  await waitForHydration(page);
  await expect(page.locator('.span-line')).toHaveCount(100);
  const more = page.getByTestId('more-spans');
  await expect(more).toHaveText('Show 100 more spans (150 not shown)');
  await more.click();
  await expect(page.locator('.span-line')).toHaveCount(200);
  await expect(more).toHaveText('Show 50 more spans (50 not shown)');
  await more.click();
  await expect(page.locator('.span-line')).toHaveCount(250);
  await expect(more).toHaveCount(0);

  // the timeline: 251 events (started, 250 span_ended), the newest 50 shown, the oldest last
  const entries = page.locator('.timeline-entry');
  await expect(entries).toHaveCount(50);
  await expect(entries.last()).toContainText('step 249 ended');
  await expect(page.getByText('201 earlier events not shown')).toBeVisible();
  await page.getByTestId('earlier-events').click();
  await expect(entries).toHaveCount(100);
  await expect(page.getByText('151 earlier events not shown')).toBeVisible();
  await expect(page.getByTestId('earlier-events')).toHaveText('Show 50 earlier');
});
