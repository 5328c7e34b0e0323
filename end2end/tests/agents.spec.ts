import { test, expect, Page } from './fixtures';
import { signUpFresh, waitForHydration } from './helpers';

async function openAgents(page: Page) {
  await page.goto('/agents');
  await waitForHydration(page);
  await expect(page.getByTestId('connection-state')).toHaveText('Live');
  // survives only as long as the page is never reloaded
  await page.evaluate(() => ((window as any).__noReload = true));
}

async function startFromForm(page: Page): Promise<string> {
  await page.getByRole('button', { name: 'Start run' }).click();
  await expect(page).toHaveURL(/\/agents\?run=[0-9a-f-]{36}$/);
  return new URL(page.url()).searchParams.get('run')!;
}

test('start a quick example and watch its monitor walk to completed, live', async ({ page }, testInfo) => {
  await signUpFresh(page);
  await openAgents(page);
  await expect(page.getByText('No runs yet.')).toBeVisible();
  await expect(page.getByText('No agent is running.')).toBeVisible();

  const example = page.locator('button.example').first();
  const exampleText = (await example.locator('span').nth(1).textContent())!;
  await example.click();
  await expect(page.getByLabel('Task', { exact: true })).toHaveValue(exampleText);
  const runId = await startFromForm(page);

  const card = page.locator(`.run-card[data-run-id="${runId}"]`);
  await expect(card).toBeVisible();
  await expect(page.getByLabel('Task', { exact: true })).toHaveValue('');
  await expect(page.locator(`.active-list li[data-run-id="${runId}"]`)).toBeVisible();
  const monitor = page.locator(`.run-monitor[data-run-id="${runId}"]`);
  await expect(monitor).toBeVisible();
  await expect(monitor.locator('.monitor-task')).toHaveText(exampleText.slice(0, 200));

  // Watch the current step change until the run completes; take a picture half way. The agent
  // traces its work: its root span runs while it works, and its calls appear as they happen.
  const agentSpan = monitor.locator('.span-line[data-span-id="agent"]');
  await expect(agentSpan).toHaveAttribute('data-status', 'running');
  await expect(monitor.locator('.span-line[data-status="running"]')).not.toHaveCount(0);
  const steps = new Set<string>();
  let screenshot = false;
  const deadline = Date.now() + 60_000;
  while ((await monitor.getAttribute('data-status')) !== 'completed') {
    expect(Date.now(), 'the run completes within a minute').toBeLessThan(deadline);
    steps.add((await monitor.getByTestId('current-step').textContent()) ?? '');
    const progress = Number(await monitor.getByRole('progressbar').getAttribute('aria-valuenow'));
    if (!screenshot && progress >= 40) {
      await page.screenshot({ path: testInfo.outputPath('agents-mid-run.png'), fullPage: true });
      screenshot = true;
    }
    await page.waitForTimeout(50);
  }
  expect(screenshot).toBeTruthy();
  steps.delete('—');
  expect(steps.size).toBeGreaterThanOrEqual(3);

  await expect(monitor.locator('.badge').first()).toHaveText('Completed');
  await expect(monitor.getByRole('progressbar')).toHaveAttribute('aria-valuenow', '100');
  await expect(monitor.locator('.verification').first()).toBeVisible();
  await expect(monitor.locator('.timeline-entry[data-kind="verification"]').first()).toBeVisible();
  await expect(monitor.locator('.timeline-entry[data-kind="completed"]')).toHaveCount(1);
  await expect(monitor.locator('.result-preview pre')).toContainText('"sources"');
  await expect(monitor.getByRole('button', { name: 'Cancel run' })).toHaveCount(0);
  // every span ended with the run; the LLM calls have tokens and a cost
  await expect(agentSpan).toHaveAttribute('data-status', 'ok');
  await expect(monitor.locator('.span-line[data-status="running"]')).toHaveCount(0);
  expect(await monitor.locator('.span-line').count()).toBeGreaterThanOrEqual(5);
  await expect(monitor.getByTestId('run-tokens')).toHaveText(/^[\d,]+ in · [\d,]+ out$/);
  await expect(monitor.getByTestId('run-cost')).toHaveText(/^\$\d/);
  await expect(card.locator('.badge')).toHaveText('Completed');
  await expect(card.getByTestId('run-usage')).toContainText('$');
  await expect(page.locator(`.active-list li[data-run-id="${runId}"]`)).toHaveCount(0);
  expect(await page.evaluate(() => (window as any).__noReload)).toBe(true);
});

test('cancel a running agent from its monitor', async ({ page }) => {
  await signUpFresh(page);
  await openAgents(page);
  await page.getByLabel('Agent', { exact: true }).selectOption('coder');
  await page.getByLabel('Task', { exact: true }).fill('Refactor the exporter; cancel me half way');
  const runId = await startFromForm(page);
  const monitor = page.locator(`.run-monitor[data-run-id="${runId}"]`);
  await expect(monitor).toHaveAttribute('data-status', 'in_progress');

  await monitor.getByRole('button', { name: 'Cancel run' }).click();
  await expect(monitor).toHaveAttribute('data-status', 'cancelled');
  await expect(monitor.locator('.badge').first()).toHaveText('Cancelled');
  await expect(monitor.getByText('The run was cancelled')).toBeVisible();
  await expect(monitor.locator('.timeline-entry[data-kind="cancelled"]')).toHaveCount(1);
  await expect(page.locator(`.run-card[data-run-id="${runId}"] .badge`)).toHaveText('Cancelled');

  // the agent really stopped: nothing more arrives
  const entries = await monitor.locator('.timeline-entry').count();
  await page.waitForTimeout(2_000);
  await expect(monitor.locator('.timeline-entry')).toHaveCount(entries);
  await expect(monitor).toHaveAttribute('data-status', 'cancelled');
});

test('a refused start says why next to the field and keeps the form', async ({ page, allowConsole }) => {
  allowConsole(/\/api\/trigger_agent_run: Failed to load resource: .* 422 /);
  await signUpFresh(page);
  await openAgents(page);
  const task = page.getByLabel('Task', { exact: true });

  await task.fill('   ');
  await page.getByRole('button', { name: 'Start run' }).click();
  await expect(page.locator('.field-error')).toContainText('describe the task');
  await expect(task).toHaveAttribute('aria-invalid', 'true');

  const long = 'x'.repeat(4_001);
  await task.fill(long);
  await expect(page.locator('.counter')).toHaveClass(/over/);
  await page.getByRole('button', { name: 'Start run' }).click();
  await expect(page.locator('.field-error')).toContainText('the limit is 4000');
  await expect(task).toHaveValue(long);

  await task.fill('A fine task');
  await page.getByText('Task id (optional)').click();
  await page.getByLabel('Task id', { exact: true }).fill('not-a-uuid');
  await page.getByRole('button', { name: 'Start run' }).click();
  await expect(page.locator('.field-error')).toContainText('must be a UUID');
  await expect(task).toHaveValue('A fine task');
  await expect(page).toHaveURL(/\/agents$/);
  await expect(page.getByText('No runs yet.')).toBeVisible();
});

test('the run page shows one run live, and a bad link says so', async ({ page }) => {
  await signUpFresh(page);
  await openAgents(page);
  await page.locator('button.example').last().click();
  const runId = await startFromForm(page);
  await page.goto(`/runs/${runId}`);
  await waitForHydration(page);
  const monitor = page.locator(`.run-monitor[data-run-id="${runId}"]`);
  await expect(monitor).toBeVisible();
  await expect(monitor).toHaveAttribute('data-status', 'completed', { timeout: 60_000 });
  await expect(monitor.locator('.timeline-entry[data-kind="completed"]')).toHaveCount(1);

  await page.goto('/runs/not-a-run');
  await expect(page.getByText('That is not a run id')).toBeVisible();
  await page.goto('/runs/00000000-0000-4000-8000-000000000000');
  await expect(page.getByText('Could not load this run')).toBeVisible();
});
