// What a first visit downloads and how soon it paints, in headless Chromium (make bench).
// Usage: node first-load.mjs <base url> <email> <password> <samples> [<run id with many spans>]
// Prints one JSON object: per route the bytes of WASM and JavaScript on the wire (as served, so
// gzip-compressed), and the first contentful paint of each sample, in ms; for the run page also
// the time from a click inside the app to its waterfall painted.
import { mkdirSync, writeFileSync } from 'node:fs';
import { launch, signedInContext } from './browser.mjs';

const [base, email, password, samplesArg, spansRun] = process.argv.slice(2);
const samples = Number(samplesArg ?? 10);
const browser = await launch();

// RUNWIRE_BENCH_PROFILE=<folder>: the last cold load of each route also records a CPU profile of
// the page, from navigation until it is hydrated, as <folder>/<route>.cpuprofile (Chrome DevTools
// opens it; a bundle built without --remove-name-section names the WASM functions in it).
const profileDir = process.env.RUNWIRE_BENCH_PROFILE;

// One cold load (a fresh context shares nothing cached): what crossed the wire, by type.
async function firstLoad(context, path, profile = false) {
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.setCacheDisabled', { cacheDisabled: true });
  if (profile) {
    await cdp.send('Profiler.enable');
    await cdp.send('Profiler.setSamplingInterval', { interval: 100 });
    await cdp.send('Profiler.start');
  }
  // The release bundle is checked as the e2e suite checks the debug one: nothing in the console.
  const problems = [];
  page.on('console', (m) => ['error', 'warning'].includes(m.type()) && problems.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  const types = new Map();
  const bytes = { wasm: 0, js: 0, css: 0, html: 0 };
  cdp.on('Network.responseReceived', (e) => types.set(e.requestId, e.response.url));
  cdp.on('Network.loadingFinished', (e) => {
    const url = types.get(e.requestId) ?? '';
    const kind = url.endsWith('.wasm') ? 'wasm' : url.endsWith('.js') ? 'js' : url.endsWith('.css') ? 'css' : url.includes('/api/') ? null : 'html';
    if (kind) bytes[kind] += e.encodedDataLength;
  });
  await page.goto(`${base}${path}`);
  await page.waitForSelector('body[data-hydrated="true"]', { timeout: 60_000 });
  const fcp = await page.evaluate(() => performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? null);
  // when the page was interactive: hydrated, since navigation started
  const hydrated = await page.evaluate(() => performance.now());
  if (profile) {
    const { profile: recorded } = await cdp.send('Profiler.stop');
    mkdirSync(profileDir, { recursive: true });
    const name = path.split('/').filter(Boolean)[0] ?? 'root';
    writeFileSync(`${profileDir}/${name}.cpuprofile`, JSON.stringify(recorded));
  }
  const rows = await page.locator('tr.run-row, .span-line').count();
  await page.close();
  if (problems.length) throw new Error(`${path}: ${problems.join('; ')}`);
  return { bytes, fcp, hydrated, rows };
}

// The run page reached from inside the app, with the bundle already running: from the click on a
// link to its waterfall painted. This is the browser's own work on the tree (the server function's
// fetch of the run, decoding and rendering the first spans), without the bundle's cold start.
async function inAppNavigations(context, runId, count) {
  const page = await context.newPage();
  await page.goto(`${base}/dashboard`);
  await page.waitForSelector('body[data-hydrated="true"]', { timeout: 60_000 });
  // RUNWIRE_BENCH_PROFILE also records these navigations, as <folder>/navigations.cpuprofile.
  const cdp = profileDir ? await context.newCDPSession(page) : null;
  if (cdp) {
    await cdp.send('Profiler.enable');
    await cdp.send('Profiler.setSamplingInterval', { interval: 100 });
    await cdp.send('Profiler.start');
  }
  const rendered = [];
  for (let i = 0; i < count; i++) {
    const ms = await page.evaluate(async (runId) => {
      const link = document.createElement('a');
      link.href = `/runs/${runId}`;
      link.textContent = 'bench';
      document.body.append(link);
      const start = performance.now();
      link.click();
      link.remove();
      // until the waterfall has its rows, then until they are painted
      await new Promise((resolve) => {
        const check = () => (document.querySelector('.span-line') ? resolve() : requestAnimationFrame(check));
        check();
      });
      await new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)));
      return performance.now() - start;
    }, runId);
    rendered.push(ms);
    await page.goBack();
    await page.waitForSelector('tr.run-row');
  }
  if (cdp) {
    const { profile: recorded } = await cdp.send('Profiler.stop');
    mkdirSync(profileDir, { recursive: true });
    writeFileSync(`${profileDir}/navigations.cpuprofile`, JSON.stringify(recorded));
  }
  await page.close();
  return rendered;
}

const context = await signedInContext(browser, base, email, password);
const routes = {};
const paths = ['/dashboard', '/agents'];
if (spansRun) paths.push(`/runs/${spansRun}`);
for (const path of paths) {
  const fcps = [];
  const hydrated = [];
  let last;
  for (let i = 0; i < samples; i++) {
    last = await firstLoad(context, path, Boolean(profileDir) && i === samples - 1);
    fcps.push(last.fcp);
    hydrated.push(last.hydrated);
  }
  routes[path] = { bytes: last.bytes, rows: last.rows, fcp_ms: fcps, hydrated_ms: hydrated };
}
if (spansRun) routes[`/runs/${spansRun}`].navigated_ms = await inAppNavigations(context, spansRun, samples);
await browser.close();
console.log(JSON.stringify(routes));
