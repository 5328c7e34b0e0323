import { test, expect } from './fixtures';
import { signInAsDemo, waitForHydration } from './helpers';

test('landing page renders with the main navigation', async ({ page }) => {
  await page.goto('/');
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('Watch your AI agents work, live.');
  const nav = page.getByRole('navigation', { name: 'Main' });
  await expect(nav.getByRole('link', { name: 'Agents' })).toHaveAttribute('href', '/agents');
  await expect(nav.getByRole('link', { name: 'Dashboard' })).toHaveAttribute('href', '/dashboard');
});

test('dashboard is server-rendered with the seeded runs', async ({ page }) => {
  await signInAsDemo(page);
  // The raw HTML, before any script runs, already holds the runs.
  const html = await (await page.request.get('/dashboard')).text();
  expect(html).toContain('Survey recent papers on retrieval-augmented generation');
  expect(html).toContain('Fix the flaky test in the payments module');

  await page.goto('/dashboard');
  const rows = page.locator('table.runs-table tbody tr');
  await expect(rows).toHaveCount(10);
  for (const status of ['completed', 'failed', 'in_progress', 'queued', 'pending']) {
    await expect(page.locator(`tbody .badge[data-status="${status}"]`).first()).toBeVisible();
  }
  await expect(page.getByRole('progressbar').first()).toHaveAttribute('aria-valuenow', /\d+/);
});

test('the status filter works once hydrated and lives in the URL', async ({ page }) => {
  await signInAsDemo(page);
  await page.goto('/dashboard');
  await waitForHydration(page);
  // Without hydration this filter would do nothing: the list is refetched through a server function.
  await page.getByTestId('status-filter').click();
  await page.getByRole('checkbox', { name: 'Failed' }).check();
  await expect(page).toHaveURL(/\/dashboard\?status=failed$/);
  const rows = page.locator('table.runs-table tbody tr');
  await expect(rows).toHaveCount(1);
  await expect(rows.first().locator('.badge')).toHaveText('Failed');

  await page.reload();
  await expect(rows).toHaveCount(1);
  await expect(page.getByTestId('status-filter')).toHaveText('Failed');

  await waitForHydration(page);
  await page.getByTestId('status-filter').click();
  await page.getByRole('checkbox', { name: 'Failed' }).uncheck();
  await expect(page).toHaveURL(/\/dashboard$/);
  await expect(rows).toHaveCount(10);
});

test('an unknown status in the URL is a visible error, not a broken page', async ({ page }) => {
  await signInAsDemo(page);
  await page.goto('/dashboard?status=exploded');
  await expect(page.getByTestId('link-problems')).toContainText('unknown run status `exploded`');
  await waitForHydration(page);
  await expect(page.locator('table.runs-table tbody tr')).toHaveCount(10);
  await page.getByTestId('status-filter').click();
  await page.getByRole('checkbox', { name: 'Completed' }).check();
  await expect(page.locator('table.runs-table tbody tr')).toHaveCount(2);
});

test('agents page shows recent runs as cards', async ({ page }) => {
  await signInAsDemo(page);
  await page.goto('/agents');
  await expect(page.locator('.run-card')).toHaveCount(10);
  await expect(page.locator('.run-card').first().locator('.agent-name')).not.toBeEmpty();
});

test('unknown pages answer 404 with the app shell', async ({ page, allowConsole }) => {
  allowConsole(/\/no\/such\/page: Failed to load resource: .* 404 /);
  await signInAsDemo(page);
  const response = await page.goto('/no/such/page');
  expect(response?.status()).toBe(404);
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('404 · Page not found');
  await expect(page.getByRole('navigation', { name: 'Main' })).toBeVisible();
});
