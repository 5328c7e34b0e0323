import { test, expect, Page, WebSocketRoute } from './fixtures';
import { createToken, signInAsDemo, startRun, waitForHydration } from './helpers';

async function progress(page: Page, token: string, run: string, percent: number, step: string) {
  const response = await page.request.post(`/api/v1/runs/${run}/progress`, {
    headers: { authorization: `Bearer ${token}` },
    data: { percent, step },
  });
  expect(response.status()).toBe(200);
}

test('runs published over REST appear and update on the open dashboard without reload', async ({ page }) => {
  await signInAsDemo(page);
  const token = await createToken(page);
  await page.goto('/dashboard');
  await waitForHydration(page);
  await expect(page.getByTestId('connection-state')).toHaveText('Live');
  const before = await page.locator('table.runs-table tbody tr').count();

  const run = await startRun(page, token, 'e2e-live-agent');
  const row = page.locator(`tr[data-run-id="${run}"]`);
  await expect(row).toBeVisible();
  await expect(page.locator('table.runs-table tbody tr')).toHaveCount(before + 1);
  await expect(page.locator('table.runs-table tbody tr').first()).toHaveAttribute('data-run-id', run);

  await progress(page, token, run, 42, 'Reading sources');
  await expect(row.getByRole('progressbar')).toHaveAttribute('aria-valuenow', '42');
  await expect(row.locator('.run-step')).toHaveText('Reading sources');
});

test('after the socket is cut the view reconnects and shows what happened meanwhile', async ({ page, allowConsole }) => {
  // the browser's WebSocket client reports the cut it is about to recover from
  allowConsole(/WebSocket Closed: code: 0/);
  let blocked = false;
  const sockets: WebSocketRoute[] = [];
  await page.routeWebSocket(/\/api\/live_runs/, (ws) => {
    if (blocked) {
      ws.close();
      return;
    }
    ws.connectToServer();
    sockets.push(ws);
  });
  await signInAsDemo(page);
  const token = await createToken(page);
  await page.goto('/dashboard');
  await waitForHydration(page);
  const indicator = page.getByTestId('connection-state');
  await expect(indicator).toHaveText('Live');
  const run = await startRun(page, token, 'e2e-cut-agent');
  const row = page.locator(`tr[data-run-id="${run}"]`);
  await expect(row).toBeVisible();

  // cut every open socket and refuse new ones for a while
  blocked = true;
  for (const ws of sockets.splice(0)) await ws.close();
  await expect(indicator).toHaveText('Reconnecting');

  // meanwhile the agent keeps working
  await progress(page, token, run, 77, 'Written while offline');
  const second = await startRun(page, token, 'e2e-while-cut');
  await page.waitForTimeout(500);
  await expect(row.getByRole('progressbar')).not.toHaveAttribute('aria-valuenow', '77');

  blocked = false;
  await expect(indicator).toHaveText('Live', { timeout: 20_000 });
  await expect(row.getByRole('progressbar')).toHaveAttribute('aria-valuenow', '77');
  await expect(row.locator('.run-step')).toHaveText('Written while offline');
  await expect(page.locator(`tr[data-run-id="${second}"]`)).toBeVisible();
  await page.screenshot({ path: 'test-results/dashboard-live.png', fullPage: true });
});
