// Test doubles for hybridsync.js under `node --test`: a scripted WebSocket and a manual clock.

/** A WebSocket whose server side the test plays. Every instance is kept in `FakeSocket.all`. */
export class FakeSocket {
  static all = [];

  constructor(url, protocol) {
    this.url = url;
    this.protocol = protocol;
    this.sent = [];
    this.closedWith = null;
    FakeSocket.all.push(this);
  }

  static get last() { return FakeSocket.all[FakeSocket.all.length - 1]; }

  static reset() { FakeSocket.all = []; }

  send(text) {
    if (this.closedWith) throw new Error('send on a closed socket');
    for (const line of text.split('\n')) this.sent.push(JSON.parse(line));
  }

  close(code, reason) { this.closedWith = { code, reason }; }

  // The server's side.
  open() { this.onopen?.({}); }

  /** Delivers one frame holding `messages` separated by newlines. */
  receive(...messages) { this.onmessage?.({ data: messages.map((m) => JSON.stringify(m)).join('\n') }); }

  serverClose(code, reason = '') { this.onclose?.({ code, reason }); }

  /** The commands sent with `op`. */
  commands(op) { return this.sent.filter((c) => c.op === op); }

  /** Answers the last command with `op`. */
  reply(op, result) {
    const command = this.commands(op).at(-1);
    if (!command) throw new Error(`no ${op} command was sent`);
    this.receive({ id: command.id, result });
    return command;
  }

  refuse(op, error) {
    const command = this.commands(op).at(-1);
    this.receive({ id: command.id, error });
    return command;
  }
}

/** setTimeout/clearTimeout/now on a clock that moves only when the test says so. */
export class FakeTimers {
  now = 0;
  #queue = [];
  #nextId = 1;

  setTimeout = (fn, ms) => {
    const id = this.#nextId++;
    this.#queue.push({ id, at: this.now + Math.max(0, ms ?? 0), fn });
    return id;
  };

  clearTimeout = (id) => { this.#queue = this.#queue.filter((t) => t.id !== id); };

  clock = () => ({ setTimeout: this.setTimeout, clearTimeout: this.clearTimeout, now: () => this.now });

  /** Moves the clock forward, running every timer that falls due, in order. */
  async advance(ms) {
    const end = this.now + ms;
    for (;;) {
      await settle();
      this.#queue.sort((a, b) => a.at - b.at || a.id - b.id);
      const next = this.#queue[0];
      if (!next || next.at > end) break;
      this.#queue.shift();
      this.now = next.at;
      next.fn();
    }
    this.now = end;
    await settle();
  }

  get pending() { return this.#queue.length; }
}

/** Opens the newest socket and accepts its connect (the server's `connect` result). */
export async function accept({ ping = 25, pong = 10, limits } = {}) {
  await settle();
  const socket = FakeSocket.last;
  socket.open();
  socket.reply('connect', { client: 'c1', version: '0.2.0', ping, pong, ...(limits ? { limits } : {}) });
  await settle();
  return socket;
}

/** Lets every queued promise callback run. */
export async function settle() {
  for (let i = 0; i < 10; i++) await new Promise((resolve) => setImmediate(resolve));
}
