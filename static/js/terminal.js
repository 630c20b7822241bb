// The browser side of a lab terminal: xterm.js (with its fit add-on) over the websocket
// ws/labs/<lab>/terminal/?n=<number>. Binary frames carry terminal bytes both ways, text
// frames carry JSON control messages (docs/terminal.md). Output is numbered by byte: the
// terminal counts what it has received and resumes from there after a reconnect, so a
// network blip or a reload loses nothing the server still holds.
/* global Terminal, FitAddon */
(function () {
  "use strict";

  // Close codes after which reconnecting would not help (or was not wanted).
  const FINAL = new Set([1000, 4400, 4403, 4408, 4409, 4429]);
  const CHUNK = 16 * 1024; // bytes per input frame: a long paste goes in several
  const encoder = new TextEncoder();

  const THEME = {
    background: "#0f1720", foreground: "#d7dee8", cursor: "#f2c94c",
    selectionBackground: "#35506e", black: "#1b2733", brightBlack: "#5b6b7d",
  };

  class LabTerminal {
    constructor(root) {
      this.root = root;
      this.readOnly = root.dataset.mode === "read";
      this.status = root.querySelector("[data-terminal-status]");
      this.screen = root.querySelector("[data-terminal-screen]");
      this.action = document.createElement("button");
      this.action.type = "button";
      this.action.className = "terminal-action";
      this.action.hidden = true;
      this.status.after(this.action);
      this.session = null;
      this.seq = null;
      this.attempt = 0;
      this.socket = null;
      this.stopped = false;
      this.timer = null;

      this.term = new Terminal({
        cursorBlink: !this.readOnly,
        disableStdin: this.readOnly,
        fontFamily: '"DejaVu Sans Mono", "Menlo", "Consolas", monospace',
        fontSize: 14,
        scrollback: 5000,
        theme: THEME,
      });
      this.fit = new FitAddon.FitAddon();
      this.term.loadAddon(this.fit);
      this.term.open(this.screen);
      if (!this.readOnly) this.fit.fit();
      this.term.attachCustomKeyEventHandler((event) => this.key(event));
      this.term.onData((data) => this.input(encoder.encode(data)));
      // Mouse reports in some programs: one byte per character.
      this.term.onBinary((data) => this.input(Uint8Array.from(data, (c) => c.charCodeAt(0))));
      this.term.onResize(({ cols, rows }) => this.control({ type: "resize", cols, rows }));
      new ResizeObserver(() => this.refit()).observe(this.screen);
      window.addEventListener("pagehide", () => this.stop());
      this.connect();
    }

    // -- keys: copy with Ctrl-C when something is selected (Ctrl-Shift-C always), paste
    // with Ctrl/Cmd-V through the browser's own paste event -----------------------------
    key(event) {
      if (event.type !== "keydown") return true;
      const ctrl = event.ctrlKey || event.metaKey;
      if (ctrl && event.code === "KeyC" && (event.shiftKey || this.term.hasSelection())) {
        copyText(this.term.getSelection());
        return false;
      }
      if (ctrl && event.code === "KeyV") return false; // the browser pastes; xterm takes it
      return true;
    }

    refit() {
      // A watcher mirrors the trainee's size (see "size"): the output is laid out for it.
      if (this.refitting || this.readOnly) return;
      this.refitting = true;
      requestAnimationFrame(() => {
        this.refitting = false;
        if (this.screen.clientWidth > 0) this.fit.fit();
      });
    }

    // -- the connection -----------------------------------------------------------------
    url() {
      const scheme = location.protocol === "https:" ? "wss:" : "ws:";
      const { lab, number } = this.root.dataset;
      return `${scheme}//${location.host}/ws/labs/${lab}/terminal/?n=${number || 1}`;
    }

    connect() {
      clearInterval(this.timer);
      this.action.hidden = true;
      this.setStatus("connecting", this.attempt ? "Reconnecting…" : "Connecting…");
      const socket = new WebSocket(this.url());
      socket.binaryType = "arraybuffer";
      this.socket = socket;
      socket.onopen = () => {
        this.control({ type: "hello", cols: this.term.cols, rows: this.term.rows,
                       session: this.session, seq: this.seq });
      };
      socket.onmessage = (event) => {
        if (typeof event.data === "string") {
          this.received(JSON.parse(event.data));
        } else {
          const bytes = new Uint8Array(event.data);
          this.seq += bytes.length;
          this.term.write(bytes);
        }
      };
      socket.onclose = (event) => this.closed(event);
    }

    received(message) {
      switch (message.type) {
        case "attached":
          if (message.fresh && this.session !== null && this.session !== message.session) {
            this.note("The previous shell has ended; this is a new one.");
          }
          this.session = message.session;
          this.seq = message.seq;
          this.attempt = 0;
          this.root.dataset.session = message.session;
          this.setStatus("connected", this.readOnly ? "Watching" : "Connected");
          this.status.title = message.backend || "";
          if (message.lost) this.note(`${message.lost} bytes of output were lost while away.`);
          if (this.readOnly && message.size) this.term.resize(message.size[0], message.size[1]);
          break;
        case "size":
          if (this.readOnly) this.term.resize(message.cols, message.rows);
          break;
        case "waiting":
          this.setStatus("waiting", "Waiting for the trainee");
          break;
        case "skip":
          this.seq = message.seq;
          break;
        case "message":
          this.note(message.text);
          break;
        case "exit":
          this.session = null; // whatever comes next is a new shell
          this.seq = null;
          break;
      }
    }

    closed(event) {
      this.socket = null;
      if (this.stopped) return;
      if (FINAL.has(event.code)) {
        this.setStatus("closed", `Closed: ${event.reason || "the connection ended"}`);
        if (event.code === 1000 || event.code === 4408 || event.code === 4409) {
          this.offer(this.readOnly ? "Watch again" : event.code === 4409 ? "Use it here" : "Start a new shell");
        }
        return;
      }
      // A network blip, a server restart, a lab not ready yet: try again, waiting longer
      // each time (0.5 s doubling, at most 30 s), with jitter so that a restarted server
      // is not hit by every browser at once.
      const delay = Math.min(30000, 500 * 2 ** this.attempt) * (0.5 + Math.random() / 2);
      this.attempt += 1;
      const due = Date.now() + delay;
      const tick = () => {
        const left = Math.max(0, Math.ceil((due - Date.now()) / 1000));
        this.setStatus("reconnecting", `Reconnecting in ${left} s`);
      };
      tick();
      this.timer = setInterval(tick, 1000);
      this.retry = setTimeout(() => this.connect(), delay);
    }

    offer(label) {
      this.action.textContent = label;
      this.action.hidden = false;
      this.action.onclick = () => { this.attempt = 0; this.connect(); this.term.focus(); };
    }

    stop() {
      this.stopped = true;
      clearTimeout(this.retry);
      clearInterval(this.timer);
      // Only an open socket is closed here: closing one still connecting makes the
      // browser complain, and the server notices a page that went away anyway.
      if (this.socket && this.socket.readyState === WebSocket.OPEN) this.socket.close(1000);
    }

    setStatus(state, text) {
      this.status.dataset.state = state;
      this.status.textContent = text;
      this.root.dataset.state = state;
    }

    note(text) {
      this.term.write(`\r\n\x1b[33m[Lotse] ${text}\x1b[0m\r\n`);
    }

    // -- sending ------------------------------------------------------------------------
    open() {
      return this.socket !== null && this.socket.readyState === WebSocket.OPEN;
    }

    control(message) {
      if (this.open()) this.socket.send(JSON.stringify(message));
    }

    input(bytes) {
      if (this.readOnly || !this.open() || this.session === null) return;
      for (let start = 0; start < bytes.length; start += CHUNK) {
        this.socket.send(bytes.subarray(start, start + CHUNK));
      }
    }

    // Paste ``commands`` (bracketed, as a paste from the clipboard would be) and press Enter.
    run(commands) {
      if (this.readOnly) return;
      this.term.paste(commands);
      this.input(encoder.encode("\r"));
      this.term.focus();
    }
  }

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    // Plain http on another host than localhost: the old way still works.
    const area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.append(area);
    area.select();
    document.execCommand("copy");
    area.remove();
    return Promise.resolve();
  }

  const terminals = [];

  function start(scope) {
    scope.querySelectorAll("[data-terminal]:not([data-started])").forEach((root) => {
      root.dataset.started = "1";
      terminals.push(new LabTerminal(root));
    });
  }

  window.Lotse = Object.assign(window.Lotse || {}, {
    terminals,
    copyText,
    // The writable terminal of this page, if there is one.
    writableTerminal: () => terminals.find((t) => !t.readOnly && t.root.isConnected) || null,
  });
  start(document);
  // The lab region replaces itself (htmx) once a lab being prepared is ready.
  document.body.addEventListener("htmx:afterSettle", () => {
    start(document);
    document.dispatchEvent(new CustomEvent("lotse:terminals"));
  });
})();
