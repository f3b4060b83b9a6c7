// Live updates: server-sent events from /api/v1/events; while the stream is down, polling instead.
//
// The browser's EventSource retries by itself after a dropped connection but gives up for good on an
// HTTP error (401, 5xx). We close it on any error, poll meanwhile, and reopen it with backoff; each
// (re)open triggers one refresh so nothing published while the stream was down is missed.

const EVENT_TYPES = ["incident", "incident_updated", "case_updated", "footage_job"];

export class LiveUpdates {
  /**
   * @param {object} o
   * @param {(type: string, data: any) => void} o.onEvent  one server event
   * @param {() => void} o.onResync  the stream (re)opened, or a poll is due: reload what is shown
   * @param {(mode: "sse" | "polling" | "off") => void} o.onMode
   */
  constructor({ onEvent, onResync, onMode, url = "/api/v1/events", pollMs = 5000, maxRetryMs = 10000 }) {
    Object.assign(this, { onEvent, onResync, onMode, url, pollMs, maxRetryMs });
    this.source = null;
    this.pollTimer = null;
    this.retryTimer = null;
    this.retryMs = 1000;
    this.mode = "off";
  }

  start() {
    this.stop();
    this.connect();
  }

  stop() {
    this.source?.close();
    this.source = null;
    clearTimeout(this.retryTimer);
    this.stopPolling();
    this.setMode("off");
  }

  connect() {
    const source = new EventSource(this.url, { withCredentials: true });
    this.source = source;
    source.onopen = () => {
      this.retryMs = 1000;
      this.stopPolling();
      this.setMode("sse");
      this.onResync();
    };
    for (const type of EVENT_TYPES) {
      source.addEventListener(type, (event) => this.onEvent(type, parse(event.data)));
    }
    source.onerror = () => {
      if (this.source !== source) return;
      source.close();
      this.source = null;
      this.startPolling();
      this.retryTimer = setTimeout(() => this.connect(), this.retryMs);
      this.retryMs = Math.min(this.maxRetryMs, this.retryMs * 2);
    };
  }

  startPolling() {
    this.setMode("polling");
    if (this.pollTimer) return;
    this.onResync();
    this.pollTimer = setInterval(() => this.onResync(), this.pollMs);
  }

  stopPolling() {
    clearInterval(this.pollTimer);
    this.pollTimer = null;
  }

  setMode(mode) {
    if (mode === this.mode) return;
    this.mode = mode;
    this.onMode(mode);
  }
}

function parse(data) {
  try {
    return JSON.parse(data);
  } catch {
    return data;
  }
}
