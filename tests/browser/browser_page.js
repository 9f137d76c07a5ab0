// BrowserPage: one tab of a DevToolsPipe browser, with the few actions a test needs: navigate,
// evaluate, wait for a condition, type and click through real input events, read cookies,
// screenshot. Every wait is bounded (`timeoutMs`, else 10 s) and rejects with what it waited for.
//
// Page functions (evaluate, waitForFunction, the element of type/click) run in the page: they are
// passed as source text with JSON arguments, so they must not close over anything of this file.
'use strict';

const fs = require('fs');

const kDefaultTimeoutMs = 10000;
const kPollMs = 100;

function sleep(ms) { return new Promise((resolve) => setTimeout(resolve, ms)); }

class BrowserPage {
  // A new tab of `browser` with the Page, Runtime, Network and Log domains on, at `width` x
  // `height` CSS pixels.
  static async open(browser, width, height) {
    const { targetId } = await browser.send('Target.createTarget', { url: 'about:blank' });
    const { sessionId } = await browser.send('Target.attachToTarget', { targetId, flatten: true });
    const page = new BrowserPage(browser, sessionId);
    await page.send('Page.enable');
    await page.send('Runtime.enable');
    await page.send('Network.enable');
    await page.send('Log.enable');
    await page.send('Emulation.setDeviceMetricsOverride',
      { width, height, deviceScaleFactor: 1, mobile: false });
    return page;
  }

  constructor(browser, sessionId) {
    this.browser_ = browser;
    this.sessionId_ = sessionId;
  }

  send(method, params = {}, timeoutMs = kDefaultTimeoutMs) {
    return this.browser_.send(method, params, this.sessionId_, timeoutMs);
  }

  on(method, handler) { return this.browser_.on(method, this.sessionId_, handler); }

  // Pauses every request the page makes; `allow(url)` says whether it goes on or fails
  // (BlockedByClient, as a browser extension blocking it would).
  async filterRequests(allow) {
    this.on('Fetch.requestPaused', (event) => {
      const command = allow(event.request.url)
        ? this.send('Fetch.continueRequest', { requestId: event.requestId })
        : this.send('Fetch.failRequest', { requestId: event.requestId, errorReason: 'BlockedByClient' });
      command.catch(() => {});  // the request may be gone with its page; nothing waits for it
    });
    await this.send('Fetch.enable', { patterns: [{ urlPattern: '*' }] });
  }

  // Calls `handler(message)` for every uncaught exception in the page.
  onPageError(handler) {
    this.on('Runtime.exceptionThrown', ({ exceptionDetails: details }) => {
      handler(details.exception && details.exception.description
        ? details.exception.description : details.text);
    });
  }

  // Calls `handler(message)` for every load the page's own Content-Security-Policy refused: such a
  // request never reaches filterRequests, the browser stops it first.
  onRefusedByPolicy(handler) {
    this.on('Log.entryAdded', ({ entry }) => {
      if (entry.source === 'security' && entry.level === 'error') handler(entry.text);
    });
  }

  // Runs `action()` (which starts a navigation: Page.navigate, a click on a submit button...)
  // and resolves once the page that it leads to has fired its load event.
  async loadedAfter(action, timeoutMs = kDefaultTimeoutMs) {
    const loaded = this.browser_.waitFor('Page.loadEventFired', this.sessionId_, timeoutMs);
    try {
      await action();
    } catch (error) {
      loaded.catch(() => {});
      throw error;
    }
    await loaded;
  }

  // Resolves once `url` has loaded (not an earlier document's late load event: the new tab's
  // about:blank may fire one after Page.enable).
  async navigate(url, timeoutMs = kDefaultTimeoutMs) {
    await this.loadedAfter(async () => {
      const { errorText } = await this.send('Page.navigate', { url }, timeoutMs);
      if (errorText) throw new Error('navigation to ' + url + ' failed: ' + errorText);
    }, timeoutMs);
    await this.waitForFunction(url + ' loaded', timeoutMs,
      (url) => location.href.startsWith(url) && document.readyState === 'complete', url);
  }

  // The JSON value of `pageFunction(...args)` in the page (awaited if it returns a promise);
  // rejects with the page's exception if it throws.
  async evaluate(pageFunction, ...args) {
    const expression = '(' + pageFunction.toString() + ')(...' + JSON.stringify(args) + ')';
    const { result, exceptionDetails } = await this.send('Runtime.evaluate',
      { expression, awaitPromise: true, returnByValue: true, userGesture: true });
    if (exceptionDetails) {
      throw new Error('in the page: ' + (exceptionDetails.exception
        ? exceptionDetails.exception.description : exceptionDetails.text));
    }
    return result.value;
  }

  // Resolves with the first truthy value of `pageFunction(...args)`, polled; rejects after
  // `timeoutMs` naming `what`. An evaluation that fails (the page is between documents) counts
  // as false.
  async waitForFunction(what, timeoutMs, pageFunction, ...args) {
    const deadline = Date.now() + timeoutMs;
    let lastError = null;
    for (;;) {
      try {
        const value = await this.evaluate(pageFunction, ...args);
        if (value) return value;
      } catch (error) {
        lastError = error;
      }
      if (Date.now() > deadline) {
        throw new Error('timed out after ' + timeoutMs + ' ms waiting for ' + what +
          (lastError ? ' (' + lastError.message + ')' : ''));
      }
      await sleep(kPollMs);
    }
  }

  // Clicks the middle of the element `selector` names (scrolled into view) with the mouse.
  // `text`, if given, picks the element of that selector whose text it is.
  async click(selector, text = null) {
    const at = await this.evaluate((selector, text) => {
      const element = [...document.querySelectorAll(selector)]
        .find((e) => text === null || e.textContent === text);
      if (!element) return null;
      element.scrollIntoView({ block: 'center' });
      const box = element.getBoundingClientRect();
      return { x: box.x + box.width / 2, y: box.y + box.height / 2 };
    }, selector, text);
    if (!at) throw new Error('nothing to click: ' + selector + (text === null ? '' : ' "' + text + '"'));
    const mouse = { x: at.x, y: at.y, button: 'left', clickCount: 1 };
    await this.send('Input.dispatchMouseEvent', { ...mouse, type: 'mouseMoved', button: 'none' });
    await this.send('Input.dispatchMouseEvent', { ...mouse, type: 'mousePressed' });
    await this.send('Input.dispatchMouseEvent', { ...mouse, type: 'mouseReleased' });
  }

  // Focuses `selector` and types `text` key by key (keydown, keypress, input, keyup reach the
  // page's handlers as they would from a keyboard); rejects unless the field then holds `text`.
  async type(selector, text) {
    const focused = await this.evaluate((selector) => {
      const element = document.querySelector(selector);
      if (!element) return false;
      element.focus();
      return document.activeElement === element;
    }, selector);
    if (!focused) throw new Error('cannot focus ' + selector);
    for (const character of text) {
      await this.send('Input.dispatchKeyEvent',
        { type: 'keyDown', key: character, text: character, unmodifiedText: character });
      await this.send('Input.dispatchKeyEvent', { type: 'keyUp', key: character });
    }
    const value = await this.evaluate((selector) => document.querySelector(selector).value, selector);
    if (value !== text) throw new Error(selector + ' holds ' + JSON.stringify(value) + ' after typing');
  }

  // The cookies the browser would send to `url`.
  async cookies(url) {
    return (await this.send('Network.getCookies', { urls: [url] })).cookies;
  }

  // Writes a PNG of the whole page (not only the viewport) to `file`.
  async screenshot(file) {
    const { cssContentSize: size } = await this.send('Page.getLayoutMetrics');
    const { data } = await this.send('Page.captureScreenshot', {
      format: 'png',
      captureBeyondViewport: true,
      clip: { x: 0, y: 0, width: Math.ceil(size.width), height: Math.ceil(size.height), scale: 1 },
    });
    fs.writeFileSync(file, Buffer.from(data, 'base64'));
  }
}

module.exports = { BrowserPage, sleep };
