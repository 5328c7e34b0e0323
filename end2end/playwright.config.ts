import { defineConfig } from '@playwright/test';
import * as path from 'path';

// The server under test: the debug build, on its own port and its own throw-away embedded PostgreSQL.
const addr = process.env.RUNWIRE_E2E_ADDR ?? '127.0.0.1:3107';
const dataDir = process.env.RUNWIRE_E2E_DATA ?? path.resolve(__dirname, '../target/e2e-db');

export default defineConfig({
  testDir: './tests',
  timeout: 60_000,
  expect: { timeout: 10_000 },
  fullyParallel: false,
  workers: 1,
  retries: 0,
  reporter: [['list']],
  outputDir: 'test-results',
  use: {
    baseURL: `http://${addr}`,
    screenshot: 'only-on-failure',
    trace: 'retain-on-failure',
    launchOptions: {
      // Debian's chromium: Playwright never downloads a browser here.
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    },
  },
  projects: [{ name: 'chromium', use: { browserName: 'chromium' } }],
  webServer: {
    command: './target/debug/runwire serve',
    cwd: path.resolve(__dirname, '..'),
    url: `http://${addr}/`,
    timeout: 180_000,
    reuseExistingServer: false,
    stdout: 'pipe',
    stderr: 'pipe',
    gracefulShutdown: { signal: 'SIGTERM', timeout: 15_000 },
    env: {
      RUNWIRE_ADDR: addr,
      RUNWIRE_DATA_DIR: dataDir,
      RUNWIRE_DEMO: '1',
      // Built-in agents a little faster than real ones, and never failing, so the walk is predictable.
      RUNWIRE_AGENT_SPEED: '0.4',
      RUNWIRE_AGENT_FAILURE_RATE: '0',
      // The tests are clients behind a loopback proxy, one address each (see tests/fixtures.ts).
      RUNWIRE_TRUSTED_PROXIES: '127.0.0.1/32',
      // RUNWIRE_E2E_SITE=target/site-release runs the suite on the release bundle (make site-release).
      LEPTOS_SITE_ROOT: process.env.RUNWIRE_E2E_SITE ?? 'target/site',
      LEPTOS_OUTPUT_NAME: 'runwire',
      // Warnings and errors in the test log; not a line per request.
      RUST_LOG: 'info,sqlx=warn,runwire::server::telemetry::requests=warn',
    },
  },
});
