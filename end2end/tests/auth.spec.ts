import { test, expect } from './fixtures';
import { signIn, waitForHydration } from './helpers';

test('a signed-out visit to the dashboard lands on sign-in, then returns there', async ({ page }) => {
  await page.goto('/dashboard?status=failed');
  await expect(page).toHaveURL(/\/signin\?next=%2Fdashboard%3Fstatus%3Dfailed$|\/signin\?next=\/dashboard%3Fstatus%3Dfailed$/);
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('Sign in');
  await waitForHydration(page);
  await page.getByLabel('Email').fill('demo@runwire.local');
  await page.getByLabel('Password').fill('runwire-demo');
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await expect(page).toHaveURL(/\/dashboard\?status=failed$/);
  await expect(page.locator('table.runs-table tbody tr')).toHaveCount(1);
});

test('sign up, sign out, sign in again', async ({ page }) => {
  const email = `e2e-${Date.now()}@example.com`;
  const password = 'a long enough password';

  await page.goto('/signup');
  await waitForHydration(page);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign up' }).click();
  await expect(page).toHaveURL(/\/dashboard$/);
  await expect(page.getByTestId('account-email')).toHaveText(email);
  await expect(page.getByText('No runs match this view yet.')).toBeVisible();

  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page).toHaveURL(/\/signin$/);
  await expect(page.getByRole('link', { name: 'Sign in' })).toBeVisible();
  // The old session is gone on the server too.
  await page.goto('/dashboard');
  await expect(page).toHaveURL(/\/signin\?next=/);

  await signIn(page, email, password);
  await expect(page).toHaveURL(/\/dashboard$/);
});

test('a wrong password says so in the form and signs nobody in', async ({ page, allowConsole }) => {
  allowConsole(/\/api\/sign_in: Failed to load resource: .* 401 /);
  await page.goto('/signin');
  await waitForHydration(page);
  await page.getByLabel('Email').fill('demo@runwire.local');
  await page.getByLabel('Password').fill('not the password');
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await expect(page.getByRole('alert')).toHaveText('wrong email or password');
  await expect(page).toHaveURL(/\/signin/);
  await expect(page.getByLabel('Email')).toHaveValue('demo@runwire.local');
});

test('the demo button signs in with one click', async ({ page }) => {
  await page.goto('/signin');
  await waitForHydration(page);
  await page.getByRole('button', { name: 'Try the demo' }).click();
  await expect(page).toHaveURL(/\/dashboard$/);
  await expect(page.getByTestId('account-email')).toHaveText('demo@runwire.local');
});

test('API tokens: create, see once, revoke', async ({ page }) => {
  await signIn(page, 'demo@runwire.local', 'runwire-demo', '/settings/tokens');
  await expect(page).toHaveURL(/\/settings\/tokens$/);
  await waitForHydration(page);
  await page.getByLabel('Name').fill('e2e agent');
  await page.getByRole('button', { name: 'Create token' }).click();
  await expect(page.getByTestId('new-token')).toHaveText(/^rw_[A-Za-z0-9_-]{43}$/);
  const row = page.locator('tr[data-token-state="active"]', { hasText: 'e2e agent' });
  await expect(row).toHaveCount(1);
  await row.getByRole('button', { name: 'Revoke' }).click();
  await expect(page.locator('tr[data-token-state="revoked"]', { hasText: 'e2e agent' })).toHaveCount(1);
});
