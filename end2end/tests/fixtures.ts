import { test as base, expect } from '@playwright/test';

export { expect };
export type { Page, WebSocketRoute } from '@playwright/test';

// Every test fails on anything the page's Content-Security-Policy blocked, and on any uncaught
// exception in the page: the CSP must let the app's own scripts and WebAssembly run, and nothing else.
export const test = base.extend<{ pageGuard: void }>({
  pageGuard: [
    async ({ page }, use) => {
      const problems: string[] = [];
      page.on('console', (message) => {
        const text = message.text();
        if (/Content Security Policy|Refused to (execute|load|apply|evaluate|compile|connect)/i.test(text)) {
          problems.push(`blocked by the CSP: ${text}`);
        }
      });
      page.on('pageerror', (error) => problems.push(`uncaught in the page: ${error.message}`));
      await use();
      expect(problems, problems.join('\n')).toEqual([]);
    },
    { auto: true },
  ],
});
