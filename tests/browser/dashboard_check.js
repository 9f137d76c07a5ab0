// Drives Debian's chromium (headless, over the DevTools protocol: devtools_pipe.js) through the
// operator dashboard: signs in with the admin token, waits until the counts shown are the expected
// ones and the ones the dashboard API answers, searches an order and opens its history, and writes
// a screenshot. Every request that is not to the server is refused and fails the check, as do a
// load the page's Content-Security-Policy refused and an uncaught error in the page. Needs only
// Node's standard library.
//
//   node dashboard_check.js --url http://127.0.0.1:PORT --token TOKEN --expect success=5,failed=1
//        --search MERCHANT_ORDER_ID --order ORDER_ID --screenshot FILE [--wait-ms 20000]
//        [--browser /usr/bin/chromium]
//
// Exits 0 when every check held; 1, printing what failed, when one did; 2 when the whole run
// outlasted --wait-ms plus 30 s. Chromium is killed whichever way it ends.
'use strict';

const { DevToolsPipe } = require('./devtools_pipe');
const { BrowserPage, sleep } = require('./browser_page');

const STATES = ['accepted', 'charging', 'unknown', 'success', 'failed'];
const kStepTimeoutMs = 10000;

function parseArgs(argv) {
  const args = { waitMs: 20000, browser: '/usr/bin/chromium' };
  for (let i = 0; i < argv.length; i += 2) {
    const name = argv[i].replace(/^--/, '').replace(/-(\w)/g, (_, c) => c.toUpperCase());
    args[name] = argv[i + 1];
  }
  args.waitMs = Number(args.waitMs);
  args.expected = {};
  for (const state of STATES) args.expected[state] = 0;
  for (const pair of (args.expect || '').split(',').filter(Boolean)) {
    const [state, count] = pair.split('=');
    args.expected[state] = Number(count);
  }
  return args;
}

function shownCounts(page) {
  return page.evaluate((states) => {
    const counts = {};
    for (const state of states) counts[state] = Number(document.getElementById('count-' + state).textContent);
    return counts;
  }, STATES);
}

function same(a, b) { return STATES.every((state) => a[state] === b[state]); }

async function check(browser, args) {
  const page = await BrowserPage.open(browser, 1280, 1400);
  const external = [];
  // Everything must come from the server itself: anything else is refused and reported.
  await page.filterRequests((url) => {
    if (url.startsWith(args.url) || url.startsWith('data:')) return true;
    external.push(url);
    return false;
  });
  // So must everything it tries to load, even what its Content-Security-Policy stops.
  const refused = [];
  page.onRefusedByPolicy((message) => refused.push(message));
  const pageErrors = [];
  page.onPageError((message) => pageErrors.push(message));

  await page.navigate(args.url + '/ui');
  await page.type('#token', args.token);
  await page.loadedAfter(() => page.click('#login'));
  const opened = await page.evaluate(() => ({
    dashboard: document.getElementById('count-success') !== null, url: location.href }));
  if (!opened.dashboard) throw new Error('login failed: the dashboard did not open (' + opened.url + ')');
  const session = (await page.cookies(args.url)).find((c) => c.name === 'topup_session');
  if (!session || !session.httpOnly || session.sameSite !== 'Strict' || session.value.includes(args.token)) {
    throw new Error('the session cookie is not HttpOnly and SameSite=Strict: ' + JSON.stringify(session));
  }

  // The counts shown must become the expected ones, and be what the API answers.
  const deadline = Date.now() + args.waitMs;
  let shown = null;
  let api = null;
  for (;;) {
    shown = await shownCounts(page);
    api = (await page.evaluate(async () => (await fetch('/v1/admin/dashboard')).json())).orders;
    if (same(shown, args.expected) && same(api, args.expected)) break;
    if (Date.now() > deadline) {
      throw new Error('counts shown ' + JSON.stringify(shown) + ', API ' + JSON.stringify(api) +
        ', expected ' + JSON.stringify(args.expected));
    }
    await sleep(500);
  }
  const channels = await page.evaluate(() => document.querySelectorAll('#channels tbody tr').length);
  if (channels < 1) throw new Error('no channel shown');

  // Search by merchant order id, then open the order's history.
  await page.type('#search-q', args.search);
  await page.click('#search-go');
  await page.waitForFunction('the order in the search results', kStepTimeoutMs,
    (id) => [...document.querySelectorAll('#results a.order-link')].some((a) => a.textContent === id),
    args.order);
  await page.click('#results a.order-link', args.order);
  await page.waitForFunction('the order page with its events', kStepTimeoutMs,
    () => !document.getElementById('order').hidden &&
      document.querySelectorAll('#order-events tbody tr').length > 0);
  const order = await page.evaluate(() => ({
    id: document.getElementById('order-id').textContent,
    events: [...document.querySelectorAll('#order-events tbody tr')].map((r) => r.cells[1].textContent),
    attempts: document.querySelectorAll('#order-attempts tbody tr').length,
  }));
  if (order.id !== args.order) throw new Error('order page shows ' + order.id + ', not ' + args.order);
  if (order.events[0] !== 'accepted' || order.attempts < 1) {
    throw new Error('order history incomplete: events ' + JSON.stringify(order.events) +
      ', attempts ' + order.attempts);
  }
  await page.waitForFunction('the "refreshed" label', kStepTimeoutMs,
    () => document.getElementById('refreshed').textContent.startsWith('refreshed'));
  await page.screenshot(args.screenshot);
  if (external.length > 0) throw new Error('requests left the machine: ' + external.join(' '));
  if (refused.length > 0) throw new Error('the page tried to load from elsewhere: ' + refused.join('; '));
  if (pageErrors.length > 0) throw new Error('errors in the page: ' + pageErrors.join('; '));
  console.log('dashboard checked: counts ' + JSON.stringify(shown) + ', order ' + args.order +
    ' with ' + order.events.length + ' events and ' + order.attempts + ' attempts; screenshot ' +
    args.screenshot);
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  let browser = null;
  // Whatever ends this process (a failed check, the bound below, a signal), chromium goes too.
  process.on('exit', () => { if (browser) browser.kill(); });
  for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(1));
  // Bounded whatever happens inside the browser.
  setTimeout(() => { console.error('dashboard check: timed out'); process.exit(2); },
    args.waitMs + 30000);
  try {
    browser = await DevToolsPipe.launch(args.browser, ['--headless', '--no-sandbox', '--disable-gpu',
      '--disable-dev-shm-usage', '--no-first-run', '--no-default-browser-check']);
    await check(browser, args);
    process.exit(0);
  } catch (error) {
    console.error('dashboard check failed: ' + error.message);
    process.exit(1);
  }
}

main();
