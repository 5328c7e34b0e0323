import { test, expect, Page } from './fixtures';
import { agentCall, createToken, signUpFresh, startRun, waitForHydration } from './helpers';

const rows = (page: Page) => page.locator('table.runs-table tbody tr');
const stat = (page: Page, name: string) => page.locator(`.stat-card[data-stat="${name}"] .stat-value`);

async function openDashboard(page: Page, query = '') {
  await page.goto(`/dashboard${query}`);
  await waitForHydration(page);
  await expect(page.getByTestId('connection-state')).toHaveText('Live');
  await page.evaluate(() => ((window as any).__noReload = true));
}

test('filter, search by run id, open and close a run, and watch new runs arrive live', async ({ page }, testInfo) => {
  await signUpFresh(page, 'e2e-dash');
  const token = await createToken(page);
  const failed = await startRun(page, token, 'dash-coder', 'Fix the exporter');
  await agentCall(page, token, `/api/v1/runs/${failed}/fail`, { error: 'tests failed twice' });
  const done = await startRun(page, token, 'dash-researcher', 'Compare WAL designs');
  await agentCall(page, token, `/api/v1/runs/${done}/complete`, { result: { ok: true } });
  const running = await startRun(page, token, 'dash-coder', 'Add pagination');

  await openDashboard(page);
  await expect(rows(page)).toHaveCount(3);
  await expect(stat(page, 'total')).toHaveText('3');
  await expect(stat(page, 'failed')).toHaveText('1');
  await expect(stat(page, 'success_rate')).toHaveText('50.0%');
  await expect(page.locator('.trend-chart svg')).toBeVisible();

  // status filter: a multi-select whose choice lands in the URL
  await page.getByTestId('status-filter').click();
  await page.getByRole('checkbox', { name: 'Failed' }).check();
  await expect(page).toHaveURL(/status=failed/);
  await expect(rows(page)).toHaveCount(1);
  await expect(rows(page).first()).toHaveAttribute('data-run-id', failed);
  await page.getByRole('checkbox', { name: 'Active (not finished)' }).check();
  await expect(page).toHaveURL(/status=failed%2Cactive/);
  await expect(rows(page)).toHaveCount(2);
  // the view survives a reload
  await page.reload();
  await waitForHydration(page);
  await expect(rows(page)).toHaveCount(2);
  await openDashboard(page);

  // search by a run id prefix
  await page.getByRole('searchbox').fill(running.slice(0, 8));
  await expect(page).toHaveURL(new RegExp(`q=${running.slice(0, 8)}`));
  await expect(rows(page)).toHaveCount(1);
  await expect(rows(page).first()).toHaveAttribute('data-run-id', running);
  await page.getByRole('searchbox').fill('');
  await expect(rows(page)).toHaveCount(3);

  // the modal: a click opens it (the URL says which run), Escape and the close button close it
  await rows(page).filter({ hasText: 'Fix the exporter' }).locator('td').first().click();
  await expect(page).toHaveURL(new RegExp(`run=${failed}`));
  const modal = page.getByRole('dialog', { name: 'Run details' });
  await expect(modal.locator(`.run-monitor[data-run-id="${failed}"]`)).toBeVisible();
  await expect(modal.getByText('tests failed twice').first()).toBeVisible();
  await page.keyboard.press('Escape');
  await expect(modal).toHaveCount(0);
  await expect(page).not.toHaveURL(/run=/);
  await rows(page).filter({ hasText: 'Add pagination' }).locator('td').first().click();
  await expect(modal).toBeVisible();
  await modal.getByRole('button', { name: 'Close' }).click();
  await expect(modal).toHaveCount(0);

  // a run published over REST appears on top, and the totals follow, without reload
  const fresh = await startRun(page, token, 'dash-live', 'Published while watching');
  await expect(rows(page).first()).toHaveAttribute('data-run-id', fresh);
  await expect(stat(page, 'total')).toHaveText('4');
  await expect(stat(page, 'active')).toHaveText('2');
  await agentCall(page, token, `/api/v1/runs/${fresh}/complete`, {});
  await expect(stat(page, 'completed')).toHaveText('2');
  await expect(rows(page).first().locator('.badge')).toHaveText('Completed');
  await page.screenshot({ path: testInfo.outputPath('dashboard.png'), fullPage: true });
  expect(await page.evaluate(() => (window as any).__noReload)).toBe(true);

  // a link opens straight into the modal
  await page.goto(`/dashboard?run=${done}`);
  await waitForHydration(page);
  await expect(page.getByRole('dialog', { name: 'Run details' })).toBeVisible();
});

test('bad links and inputs get a clear message and the page keeps working', async ({ page }) => {
  await signUpFresh(page, 'e2e-dash-bad');
  const token = await createToken(page);
  await startRun(page, token, 'dash-bad', 'Still listed');
  const huge = 'x'.repeat(10_000);
  await openDashboard(page, `?status=exploded&q=${huge}&sort=sideways`);
  const problems = page.getByTestId('link-problems');
  await expect(problems).toContainText('unknown run status `exploded`');
  await expect(problems).toContainText('10000 characters');
  await expect(problems).toContainText('unknown sort');
  await expect(rows(page)).toHaveCount(1);

  // typing a search over the limit says so and changes nothing
  await page.getByRole('searchbox').fill('y'.repeat(201));
  await expect(page.getByText('The search is limited to 200 characters')).toBeVisible();
  await expect(rows(page)).toHaveCount(1);

  // the export of the view
  const csv = await page.request.get('/api/v1/runs/export?format=csv');
  expect(csv.status()).toBe(200);
  expect((await csv.text()).split('\n')[1]).toContain('dash-bad');
  const bad = await page.request.get('/api/v1/runs/export?status=exploded');
  expect(bad.status()).toBe(400);
  expect((await bad.json()).error).toContain('exploded');
});
