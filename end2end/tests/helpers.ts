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

// A fresh account per test, so seeded demo runs and other tests never get in the way.
export async function signUpFresh(page: Page, prefix = 'e2e'): Promise<string> {
  const email = `${prefix}-${Date.now()}-${Math.floor(Math.random() * 1e6)}@example.com`;
  await page.goto('/signup');
  await waitForHydration(page);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill('a long enough password');
  await page.getByRole('button', { name: 'Sign up' }).click();
  await expect(page.getByTestId('account-email')).toHaveText(email);
  return email;
}

export async function createToken(page: Page): Promise<string> {
  const response = await page.request.post('/api/create_token', { form: { name: `e2e-${Date.now()}`, write: 'on', read: 'on' } });
  expect(response.ok()).toBeTruthy();
  const [, secret] = await response.json();
  return secret;
}

// What an agent does: one REST call with its token; returns the JSON answer.
export async function agentCall(page: Page, token: string, path: string, data: object, status = 200) {
  const response = await page.request.post(path, { headers: { authorization: `Bearer ${token}` }, data });
  expect(response.status()).toBe(status);
  return response.json();
}

export async function startRun(page: Page, token: string, agent: string, task = `e2e task for ${agent}`): Promise<string> {
  return (await agentCall(page, token, '/api/v1/runs', { agent_name: agent, task }, 201)).id;
}
