import { test as base, expect } from '@playwright/test';

export { expect };
export type { Page, WebSocketRoute } from '@playwright/test';

// Each test is a client of its own address: the server trusts the loopback proxy's X-Forwarded-For
// (RUNWIRE_TRUSTED_PROXIES in playwright.config.ts), so the per-address sign-up throttle counts
// tests apart, as it would count people apart behind a real proxy.
let clients = 0;

// Every test fails on anything the page's Content-Security-Policy blocked, on any uncaught exception
// in a page, and on any console error or warning (a hydration warning, a failed request the test did
// not ask for). A test that provokes one on purpose says so with `allowConsole(/what it expects/)`,
// matched against "<url>: <message>".
export const test = base.extend<{ allowConsole: (expected: RegExp) => void }>({
  extraHTTPHeaders: async ({}, use) => {
    clients += 1;
    await use({ 'x-forwarded-for': `198.18.${Math.floor(clients / 250) % 250}.${(clients % 250) + 1}` });
  },
  allowConsole: [
    async ({ context }, use) => {
      const problems: { text: string; report: string }[] = [];
      const allowed: RegExp[] = [];
      context.on('console', (message) => {
        const text = message.text();
        if (/Content Security Policy|Refused to (execute|load|apply|evaluate|compile|connect)/i.test(text)) {
          problems.push({ text: '', report: `blocked by the CSP: ${text}` });
          return;
        }
        const kind = message.type();
        if (kind === 'error' || kind === 'warning') {
          const at = message.location();
          problems.push({ text: `${at.url}: ${text}`, report: `console ${kind} at ${at.url}:${at.lineNumber}: ${text}` });
        }
      });
      context.on('weberror', (error) => problems.push({ text: '', report: `uncaught in the page: ${error.error().message}` }));
      await use((expected) => allowed.push(expected));
      const unexpected = problems
        .filter((problem) => !problem.text || !allowed.some((pattern) => pattern.test(problem.text)))
        .map((problem) => problem.report);
      expect(unexpected, unexpected.join('\n')).toEqual([]);
    },
    { auto: true },
  ],
});
