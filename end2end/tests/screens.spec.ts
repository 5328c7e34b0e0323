import AxeBuilder from '@axe-core/playwright';
import { test, expect, Page } from './fixtures';
import { createToken, signUpFresh, startRun, waitForHydration } from './helpers';

// Every page, at a phone's width and at a desktop's, in light and in dark mode: nothing scrolls
// sideways, and axe finds no serious or critical accessibility violation.

const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1280, height: 900 };

// A signed-in user with runs whose text is long enough to push a careless layout sideways.
async function userWithRuns(page: Page): Promise<string> {
  await signUpFresh(page, 'screens');
  const token = await createToken(page);
  const long = 'summarise-the-quarterly-infrastructure-incident-reports-and-draft-a-postmortem '.repeat(3);
  let id = '';
  for (const agent of ['researcher', 'a-rather-long-agent-name-without-any-spaces-at-all']) {
    id = await startRun(page, token, agent, long);
    await page.request.post(`/api/v1/runs/${id}/progress`, {
      headers: { authorization: `Bearer ${token}` },
      data: { percent: 40, step: 'Calling-a-tool-with-a-very-long-step-name-that-does-not-wrap-by-itself' },
    });
  }
  return id;
}

function pagesOf(runId: string): string[] {
  return ['/', '/agents', '/dashboard', `/dashboard?run=${runId}`, `/runs/${runId}`, '/settings/tokens'];
}

// How far the page scrolls sideways, and the elements that stick out past its right edge.
async function sidewaysOverflow(page: Page): Promise<string> {
  return page.evaluate(() => {
    const width = document.documentElement.clientWidth;
    const overflow = document.documentElement.scrollWidth - width;
    if (overflow <= 0) return '';
    const culprits = [...document.body.querySelectorAll('*')]
      .filter((el) => el.getBoundingClientRect().right > width + 0.5)
      .filter((el) => ![...el.children].some((child) => child.getBoundingClientRect().right > width + 0.5))
      .slice(0, 5)
      .map((el) => `${el.tagName.toLowerCase()}.${[...el.classList].join('.')} (right ${Math.round(el.getBoundingClientRect().right)})`);
    return `${overflow}px past ${width}px: ${culprits.join(', ')}`;
  });
}

async function seriousViolations(page: Page): Promise<string[]> {
  const results = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
  return results.violations
    .filter((violation) => violation.impact === 'serious' || violation.impact === 'critical')
    .map((violation) => `${violation.id} (${violation.impact}): ${violation.help} at ${violation.nodes.map((node) => node.target.join(' ')).join(', ')}`);
}

test('at 390px no page scrolls sideways, runs are cards and the navigation folds into a menu', async ({ page }) => {
  await page.setViewportSize(PHONE);
  const runId = await userWithRuns(page);
  for (const path of ['/signin', '/signup', ...pagesOf(runId)]) {
    await page.goto(path);
    await waitForHydration(page);
    expect(await sidewaysOverflow(page), `${path} scrolls sideways`).toBe('');
  }

  await page.goto('/dashboard');
  await waitForHydration(page);
  const row = page.locator('tr.run-row').first();
  await expect(row).toBeVisible();
  expect(await row.evaluate((el) => getComputedStyle(el).display)).toBe('grid');
  // each cell names itself, since the header row is out of sight
  expect(await row.locator('td').first().evaluate((el) => getComputedStyle(el, '::before').content)).toBe('"Status"');
  // the header row keeps only its sort links
  await expect(page.locator('.runs-table th', { hasText: 'Status' })).toBeHidden();
  await expect(page.locator('.runs-table th.sortable', { hasText: 'Started' })).toBeVisible();

  const nav = page.getByRole('navigation', { name: 'Main' });
  const menu = page.getByRole('button', { name: 'Menu' });
  await expect(nav).toBeHidden();
  await expect(menu).toHaveAttribute('aria-expanded', 'false');
  await menu.click();
  await expect(menu).toHaveAttribute('aria-expanded', 'true');
  await expect(nav).toBeVisible();
  await nav.getByRole('link', { name: 'Agents' }).click();
  await expect(page).toHaveURL(/\/agents$/);
  await expect(nav).toBeHidden();
  expect(await sidewaysOverflow(page)).toBe('');
});

test('on a desktop the navigation stays in the bar and runs stay a table', async ({ page }) => {
  await page.setViewportSize(DESKTOP);
  await userWithRuns(page);
  await page.goto('/dashboard');
  await waitForHydration(page);
  await expect(page.getByRole('navigation', { name: 'Main' })).toBeVisible();
  await expect(page.getByRole('button', { name: 'Menu' })).toBeHidden();
  expect(await page.locator('tr.run-row').first().evaluate((el) => getComputedStyle(el).display)).toBe('table-row');
});

for (const colorScheme of ['light', 'dark'] as const) {
  test(`no serious or critical accessibility violations on any page, ${colorScheme} mode`, async ({ page, allowConsole }) => {
    allowConsole(/\/no-such-page: Failed to load resource: .* 404 /);
    await page.emulateMedia({ colorScheme, reducedMotion: 'reduce' });
    const signedOut = ['/', '/signin', '/signup', '/no-such-page'];
    const found: string[] = [];
    for (const viewport of [DESKTOP, PHONE]) {
      await page.setViewportSize(viewport);
      for (const path of signedOut) {
        await page.goto(path);
        await waitForHydration(page);
        found.push(...(await seriousViolations(page)).map((v) => `${viewport.width}px ${path}: ${v}`));
      }
    }
    const runId = await userWithRuns(page);
    for (const viewport of [DESKTOP, PHONE]) {
      await page.setViewportSize(viewport);
      for (const path of pagesOf(runId)) {
        await page.goto(path);
        await waitForHydration(page);
        found.push(...(await seriousViolations(page)).map((v) => `${viewport.width}px ${path}: ${v}`));
      }
    }
    expect(found, found.join('\n')).toEqual([]);
  });
}
