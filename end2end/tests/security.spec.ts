// The Content-Security-Policy in a real browser. This file uses Playwright's plain `test` (not the
// guarded one of ./fixtures), because here a blocked script is the expected outcome.
import { test, expect } from '@playwright/test';
import { signInAsDemo, waitForHydration } from './helpers';

test('the CSP lets the app hydrate and blocks a script injected into the page', async ({ page }) => {
  const console: string[] = [];
  page.on('console', (message) => console.push(message.text()));
  await signInAsDemo(page, '/dashboard');
  await waitForHydration(page);
  const response = await page.goto('/agents');
  const policy = response?.headers()['content-security-policy'] ?? '';
  expect(policy).toContain("'wasm-unsafe-eval'");
  expect(policy).toContain("frame-ancestors 'none'");
  expect(policy).not.toContain('unsafe-inline');
  await waitForHydration(page);
  expect(console.filter((text) => /Content Security Policy/i.test(text))).toEqual([]);

  // What an XSS would try: an inline script, and an inline style.
  const violations = await page.evaluate(async () => {
    const seen: string[] = [];
    document.addEventListener('securitypolicyviolation', (event) => seen.push(event.violatedDirective));
    const script = document.createElement('script');
    script.textContent = 'window.__injected = true;';
    document.body.appendChild(script);
    await new Promise((resolve) => setTimeout(resolve, 200));
    return { seen, ran: (window as any).__injected === true };
  });
  expect(violations.ran).toBe(false);
  expect(violations.seen).toContain('script-src-elem');
  // ...and the browser reports it on the console, as the other tests' guard (./fixtures) watches for
  await expect.poll(() => console.some((text) => /Content Security Policy/i.test(text))).toBe(true);
});
