import { expect, Page } from '@playwright/test';

export const DEMO_EMAIL = 'demo@runwire.local';
export const DEMO_PASSWORD = 'runwire-demo';

// Set by `hydrate()` once the WASM bundle has taken over the server-rendered page.
export async function waitForHydration(page: Page) {
  await expect(page.locator('body[data-hydrated="true"]')).toHaveCount(1, { timeout: 30_000 });
}

export async function signIn(page: Page, email: string, password: string, next = '/dashboard') {
  await page.goto(`/signin?next=${encodeURIComponent(next)}`);
  await waitForHydration(page);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await expect(page.getByTestId('account-email')).toHaveText(email);
}

export async function signInAsDemo(page: Page, next = '/dashboard') {
  await signIn(page, DEMO_EMAIL, DEMO_PASSWORD, next);
}
