// DevToolsPipe: a Chrome DevTools Protocol client over chromium's --remote-debugging-pipe, with
// nothing but Node's standard library. Chromium reads commands from its file descriptor 3 and
// writes answers and events to its descriptor 4; each message is one JSON object followed by a
// NUL byte.
//
//   const browser = await DevToolsPipe.launch('/usr/bin/chromium', ['--headless']);
//   const { targetId } = await browser.send('Target.createTarget', { url: 'about:blank' });
//   browser.on('Page.loadEventFired', sessionId, (params) => ...);
//   const params = await browser.waitFor('Page.loadEventFired', sessionId, 10000);
//   browser.kill();
//
// Contract:
// - send() resolves with the command's result, and rejects on a protocol error, when no answer
//   comes within its timeout, or when chromium has exited. A sessionId (of Target.attachToTarget
//   with flatten: true) sends the command to that target; none sends it to the browser.
// - on() calls the handler for every later event of that method and session; waitFor() resolves
//   with the first later one and rejects after its timeout or when chromium has exited.
// - kill() SIGKILLs chromium's process group (chromium is spawned as its leader, so the group id
//   is its PID: its renderers go with it) and removes its temporary profile. It is synchronous,
//   so it also works from a process 'exit' handler, and it is safe to call more than once.
'use strict';

const { spawn } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const kDefaultTimeoutMs = 10000;
// Chromium's first answer: a cold start on a busy 2-core machine has taken over 10 s.
const kLaunchTimeoutMs = 60000;

class DevToolsPipe {
  // Starts chromium with `args` plus a fresh temporary profile and the pipe; resolves once it
  // answers a first command (within `timeoutMs`).
  static async launch(executable, args, timeoutMs = kLaunchTimeoutMs) {
    const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'topup-chromium-'));
    const child = spawn(executable,
      [...args, '--remote-debugging-pipe', '--user-data-dir=' + profile, 'about:blank'],
      { stdio: ['ignore', 'pipe', 'pipe', 'pipe', 'pipe'], detached: true });
    const browser = new DevToolsPipe(child, profile);
    try {
      await browser.send('Browser.getVersion', {}, undefined, timeoutMs);
    } catch (error) {
      browser.kill();
      throw error;
    }
    return browser;
  }

  constructor(child, profile) {
    this.child_ = child;
    this.profile_ = profile;
    this.nextId_ = 1;
    this.pending_ = new Map();  // id -> { resolve, reject, timer, method }
    this.listeners_ = new Map();  // method + ' ' + sessionId -> Set of handlers (see waitFor)
    this.exitError_ = null;
    this.stderrTail_ = '';
    this.buffered_ = Buffer.alloc(0);
    this.killed_ = false;

    child.stdio[4].on('data', (chunk) => this.receive_(chunk));
    child.stdio[3].on('error', () => {});  // a write after exit: reported by 'exit' below
    child.stdout.resume();
    child.stderr.on('data', (chunk) => {
      this.stderrTail_ = (this.stderrTail_ + chunk.toString()).slice(-2000);
    });
    const failAll = (why) => {
      if (this.exitError_) return;
      this.exitError_ = new Error(why + (this.stderrTail_ ? ': ' + this.stderrTail_.trim() : ''));
      for (const pending of this.pending_.values()) {
        clearTimeout(pending.timer);
        pending.reject(this.exitError_);
      }
      this.pending_.clear();
      for (const handlers of this.listeners_.values()) {
        for (const handler of handlers) if (handler.onExit) handler.onExit(this.exitError_);
      }
    };
    child.on('error', (error) => failAll('chromium did not start (' + error.message + ')'));
    child.on('exit', (code, signal) => failAll('chromium exited (' + (signal || code) + ')'));
  }

  send(method, params = {}, sessionId = undefined, timeoutMs = kDefaultTimeoutMs) {
    if (this.exitError_) return Promise.reject(this.exitError_);
    const id = this.nextId_++;
    const message = { id, method, params };
    if (sessionId) message.sessionId = sessionId;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending_.delete(id);
        reject(new Error(method + ': no answer within ' + timeoutMs + ' ms'));
      }, timeoutMs);
      this.pending_.set(id, { resolve, reject, timer, method });
      this.child_.stdio[3].write(JSON.stringify(message) + '\0');
    });
  }

  // Returns a function that removes the handler.
  on(method, sessionId, handler) {
    const key = method + ' ' + (sessionId || '');
    if (!this.listeners_.has(key)) this.listeners_.set(key, new Set());
    this.listeners_.get(key).add(handler);
    return () => this.listeners_.get(key).delete(handler);
  }

  waitFor(method, sessionId, timeoutMs = kDefaultTimeoutMs) {
    if (this.exitError_) return Promise.reject(this.exitError_);
    return new Promise((resolve, reject) => {
      let remove = null;
      const timer = setTimeout(() => {
        remove();
        reject(new Error('no ' + method + ' within ' + timeoutMs + ' ms'));
      }, timeoutMs);
      const handler = (params) => {
        clearTimeout(timer);
        remove();
        resolve(params);
      };
      // Called instead of the handler when chromium exits first (see the 'exit' handler above).
      handler.onExit = (error) => {
        clearTimeout(timer);
        remove();
        reject(error);
      };
      remove = this.on(method, sessionId, handler);
    });
  }

  kill() {
    if (this.killed_) return;
    this.killed_ = true;
    try {
      if (this.child_.pid !== undefined) process.kill(-this.child_.pid, 'SIGKILL');
    } catch (error) {
      if (error.code !== 'ESRCH') throw error;  // ESRCH: the group has already gone
    }
    fs.rmSync(this.profile_, { recursive: true, force: true });
  }

  receive_(chunk) {
    this.buffered_ = Buffer.concat([this.buffered_, chunk]);
    for (let end = this.buffered_.indexOf(0); end >= 0; end = this.buffered_.indexOf(0)) {
      const message = JSON.parse(this.buffered_.subarray(0, end).toString('utf8'));
      this.buffered_ = this.buffered_.subarray(end + 1);
      this.dispatch_(message);
    }
  }

  dispatch_(message) {
    if (message.id !== undefined) {
      const pending = this.pending_.get(message.id);
      if (!pending) return;  // answered after its timeout
      this.pending_.delete(message.id);
      clearTimeout(pending.timer);
      if (message.error) {
        pending.reject(new Error(pending.method + ': ' + message.error.message +
          (message.error.data ? ' (' + message.error.data + ')' : '')));
      } else {
        pending.resolve(message.result);
      }
      return;
    }
    const handlers = this.listeners_.get(message.method + ' ' + (message.sessionId || ''));
    if (handlers) for (const handler of [...handlers]) handler(message.params);
  }
}

module.exports = { DevToolsPipe };
