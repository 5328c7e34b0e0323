import { execFile } from 'child_process';
import * as path from 'path';
import { promisify } from 'util';
import { test, expect } from './fixtures';
import { createToken, signUpFresh, waitForHydration } from './helpers';

const root = path.resolve(__dirname, '../..');

// An agent instrumented with the official OpenTelemetry Python SDK, pointed at runwire by the two
// standard environment variables: its run shows up on the open dashboard, live, and its page shows
// the span tree with the LLM calls' model, tokens and cost.
test('an OpenTelemetry SDK agent shows up live with its spans, tokens and cost', async ({ page, baseURL }) => {
  await signUpFresh(page, 'e2e-otel');
  const token = await createToken(page);
  await page.goto('/dashboard');
  await waitForHydration(page);
  await expect(page.locator('table.runs-table tbody tr[data-run-id]')).toHaveCount(0);

  const { stdout } = await promisify(execFile)(
    path.join(root, '.venv/bin/python'),
    [path.join(root, 'examples/opentelemetry/otel_agent.py')],
    {
      env: {
        ...process.env,
        OTEL_EXPORTER_OTLP_ENDPOINT: baseURL!,
        OTEL_EXPORTER_OTLP_HEADERS: `Authorization=Bearer%20${token}`,
        OTEL_BSP_SCHEDULE_DELAY: '100',
      },
    },
  );
  expect(stdout.trim()).toMatch(/^[0-9a-f]{32}$/);

  // the run arrives on the dashboard without a reload, finished with its root span
  const row = page.locator('table.runs-table tbody tr[data-run-id]');
  await expect(row).toHaveCount(1);
  await expect(row).toContainText('trip-planner');
  await expect(row).toContainText('Completed');
  const runId = await row.getAttribute('data-run-id');

  await page.goto(`/runs/${runId}`);
  await waitForHydration(page);
  await expect(page.locator('.span-line')).toHaveCount(4);
  await expect(page.locator('.span-line[data-kind="llm"]')).toHaveCount(2);
  await expect(page.locator('.span-line[data-kind="tool"]')).toHaveCount(1);
  await expect(page.getByTestId('run-tokens')).toHaveText('2,100 in · 230 out');
  // gpt-4o-mini 1200 in / 80 out ($0.000228) + gpt-4o 900 in / 150 out ($0.00375)
  await expect(page.getByTestId('run-cost')).toHaveText('$0.0040');

  await page.locator('.span-line[data-kind="llm"]').first().getByRole('button').click();
  const details = page.getByTestId('span-details');
  await expect(details.getByTestId('span-model')).toHaveText('gpt-4o-mini');
  await expect(details.getByTestId('span-input-tokens')).toHaveText('1,200');
  await expect(details.getByText('Paris to Lyon tomorrow morning')).toBeVisible();
});
