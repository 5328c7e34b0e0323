// Span start to visible, next to a plain run update to visible, in an open browser (make bench).
// Usage: node live-latency.mjs <base url> <email> <password> <agent token> <run id> <samples>
// The run page of <run id> is open; each sample posts one progress update (its step) and one span
// start over REST, alternately, and a MutationObserver in the page notes when each shows: the step
// in the monitor, the span's line in the waterfall. Both clocks are this machine's wall clock.
// Prints one JSON object: the latencies of each kind, in ms (REST call, server, live socket,
// browser decode and render).
import { launch, signedInContext } from './browser.mjs';

const [base, email, password, token, run, samplesArg] = process.argv.slice(2);
const samples = Number(samplesArg ?? 100);
const browser = await launch();
const context = await signedInContext(browser, base, email, password);
const page = await context.newPage();
await page.goto(`${base}/runs/${run}`);
await page.waitForSelector('body[data-hydrated="true"]');
await page.waitForSelector('[data-testid="connection-state"].conn-live', { timeout: 30_000 });

// Notes the first moment each awaited key shows: a step's text, or a span's line.
await page.evaluate(() => {
  window.__seen = {};
  const look = () => {
    const step = document.querySelector('[data-testid="current-step"]')?.textContent;
    if (step && !(step in window.__seen)) window.__seen[step] = Date.now();
    for (const line of document.querySelectorAll('li[data-span-id]')) {
      const key = `span:${line.dataset.spanId}`;
      if (!(key in window.__seen)) window.__seen[key] = Date.now();
    }
  };
  new MutationObserver(look).observe(document.body, { subtree: true, childList: true, characterData: true });
  look();
});

async function post(path, body) {
  const response = await fetch(`${base}/api/v1/runs/${run}/${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`);
}

async function timed(key, send) {
  const sent = Date.now();
  await send();
  const handle = await page.waitForFunction((k) => window.__seen[k], key, { timeout: 10_000, polling: 'raf' });
  return (await handle.jsonValue()) - sent;
}

const update = [];
const span = [];
for (let i = 0; i < samples; i++) {
  update.push(await timed(`step ${i}`, () => post('progress', { percent: (i * 90) / samples, step: `step ${i}` })));
  span.push(await timed(`span:live-${i}`, () => post('spans', {
    spans: [{ span_id: `live-${i}`, kind: 'llm', name: 'chat', model: 'gpt-4o-mini', started_at: new Date().toISOString() }],
  })));
}
await browser.close();
console.log(JSON.stringify({ update_ms: update, span_ms: span }));
