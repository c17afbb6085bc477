import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { TcpProxy } from './tcpProxy.js';

/** Fails (rather than hangs) if `promise` does not settle within `ms`. */
async function within<T>(promise: Promise<T>, what: string, ms = 5_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** A short, bounded pause, used only to give bytes that must NOT arrive a chance to arrive. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 50));

/** One end of a TCP connection, recording what it receives. */
class End {
  data = Buffer.alloc(0);
  ended = false;
  readonly closed: Promise<void>;

  constructor(readonly socket: net.Socket) {
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => {
      this.data = Buffer.concat([this.data, chunk]);
    });
    socket.on('end', () => {
      this.ended = true;
    });
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
  }

  /** Resolves once at least `n` bytes have arrived; fails on close or timeout. */
  received(n: number): Promise<string> {
    const arrived = new Promise<string>((resolve, reject) => {
      const check = () => {
        if (this.data.length < n) return;
        this.socket.off('data', check).off('close', closed);
        resolve(this.data.toString());
      };
      const closed = () => reject(new Error(`closed after ${this.data.length} of ${n} bytes`));
      this.socket.on('data', check).on('close', closed);
      check();
    });
    return within(arrived, `${n} bytes`);
  }

  waitClosed(): Promise<void> {
    return within(this.closed, 'socket close');
  }
}

/** An echo server that keeps the server-side end of every connection, for checking what the target saw. */
class EchoServer {
  readonly ends: End[] = [];
  readonly #server = net.createServer((socket) => {
    this.ends.push(new End(socket));
    socket.on('data', (chunk: Buffer) => socket.write(chunk));
    this.#arrivals.splice(0).forEach((arrival) => arrival());
  });
  #arrivals: Array<() => void> = [];

  static async start(): Promise<EchoServer> {
    const echo = new EchoServer();
    await within(new Promise<void>((resolve) => echo.#server.listen(0, '127.0.0.1', resolve)), 'echo listen');
    return echo;
  }

  get port(): number {
    return (this.#server.address() as net.AddressInfo).port;
  }

  /** The server side of the `index`th connection, once it has arrived. */
  async connection(index: number): Promise<End> {
    while (this.ends.length <= index) {
      await within(new Promise<void>((resolve) => this.#arrivals.push(resolve)), `connection ${index} at the target`);
    }
    return this.ends[index]!;
  }

  async close(): Promise<void> {
    for (const end of this.ends) end.socket.destroy();
    await within(new Promise((resolve) => this.#server.close(resolve)), 'echo close');
  }
}

async function connect(port: number): Promise<End> {
  const socket = net.connect({ host: '127.0.0.1', port });
  const end = new End(socket);
  await within(
    new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject)),
    'client connect',
  );
  return end;
}

const cleanups: Array<() => Promise<void>> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup() {
  const echo = await EchoServer.start();
  cleanups.push(() => echo.close());
  const proxy = await TcpProxy.start({ target: { host: '127.0.0.1', port: echo.port } });
  cleanups.push(() => within(proxy.close(), 'proxy close'));
  const client = async () => {
    const end = await connect(proxy.port);
    cleanups.push(async () => {
      end.socket.destroy();
      await end.waitClosed();
    });
    return end;
  };
  return { echo, proxy, client };
}

describe('TcpProxy', () => {
  it('forwards bytes both ways, with half-close', async () => {
    const { echo, proxy, client } = await setup();
    expect(proxy.host).toBe('127.0.0.1');
    const a = await client();
    a.socket.write('hello');
    expect(await a.received(5)).toBe('hello');
    // The client's FIN travels after its bytes; the reply still comes back on the open half.
    a.socket.end('bye');
    expect(await a.received(8)).toBe('hellobye');
    await a.waitClosed();
    expect(a.ended).toBe(true);
    expect((await echo.connection(0)).data.toString()).toBe('hellobye');
    expect(proxy.stats).toMatchObject({ accepted: 1, bytesForwarded: 16, resets: 0 });
  });

  it('stall holds bytes until pass, then delivers them in order', async () => {
    const { echo, proxy, client } = await setup();
    const a = await client();
    a.socket.write('one');
    expect(await a.received(3)).toBe('one');
    proxy.setMode('stall');
    a.socket.write('two');
    a.socket.write('three');
    await settle();
    expect((await echo.connection(0)).data.toString()).toBe('one');
    proxy.setMode('pass');
    expect(await a.received(11)).toBe('onetwothree');
  });

  it('stalls one direction only', async () => {
    const { echo, proxy, client } = await setup();
    const a = await client();
    proxy.setMode('stall', 'fromTarget');
    a.socket.write('ping');
    const target = await echo.connection(0);
    expect(await target.received(4)).toBe('ping');
    await settle();
    expect(a.data.length).toBe(0);
    proxy.setMode('pass', 'fromTarget');
    expect(await a.received(4)).toBe('ping');
  });

  it('a one-way drop discards bytes but keeps the connection', async () => {
    const { proxy, client } = await setup();
    const a = await client();
    proxy.setMode('drop', 'toTarget');
    a.socket.write('lost');
    await settle();
    proxy.setMode('pass');
    a.socket.write('kept');
    // Same connection, in order: had 'lost' got through, it would have come back first.
    expect(await a.received(4)).toBe('kept');
    expect(proxy.stats).toMatchObject({ accepted: 1, resets: 0, open: 1 });
  });

  it('drop kills existing connections and refuses new ones, until pass', async () => {
    const { echo, proxy, client } = await setup();
    const a = await client();
    a.socket.write('x');
    await a.received(1);
    const target = await echo.connection(0);
    proxy.setMode('drop');
    await a.waitClosed();
    await target.waitClosed();
    // Refused: the reset may come before or after the client sees its connect succeed.
    const b = new End(net.connect({ host: '127.0.0.1', port: proxy.port }));
    await b.waitClosed();
    expect(b.data.length).toBe(0);
    expect(echo.ends.length).toBe(1);
    expect(proxy.stats).toMatchObject({ accepted: 1, refused: 1, resets: 1 });
    proxy.setMode('pass');
    const c = await client();
    c.socket.write('back');
    expect(await c.received(4)).toBe('back');
  });

  it('resetAll closes both sides, and new connections still work', async () => {
    const { echo, proxy, client } = await setup();
    const a = await client();
    a.socket.write('x');
    await a.received(1);
    proxy.resetAll();
    await a.waitClosed();
    await (await echo.connection(0)).waitClosed();
    expect(proxy.stats).toMatchObject({ resets: 1 });
    const b = await client();
    b.socket.write('y');
    expect(await b.received(1)).toBe('y');
  });

  it('truncateAfter(n) delivers exactly n bytes, then closes', async () => {
    const { echo, proxy, client } = await setup();
    const a = await client();
    a.socket.write('x');
    await a.received(1);
    proxy.truncateAfter(10);
    a.socket.write('0123456789abcdefghij');
    const target = await echo.connection(0);
    await target.waitClosed();
    await a.waitClosed();
    expect(target.data.toString()).toBe('x0123456789');
    expect(proxy.stats).toMatchObject({ resets: 1 });
  });

  it('destroys a stalled connection that holds more than 16 MiB', async () => {
    const { proxy, client } = await setup();
    const a = await client();
    proxy.setMode('stall');
    a.socket.write(Buffer.alloc(16 * 1024 * 1024 + 1));
    await a.waitClosed();
    expect(proxy.stats).toMatchObject({ resets: 1, bytesForwarded: 0 });
  });

  it('refuses to use anything but loopback addresses', async () => {
    for (const host of ['10.0.0.1', '0.0.0.0', 'localhost', 'example.com', '::']) {
      await expect(TcpProxy.start({ target: { host, port: 80 } })).rejects.toThrow(/not a loopback IP address/);
      await expect(TcpProxy.start({ target: { host: '127.0.0.1', port: 80 }, listenHost: host })).rejects.toThrow(
        /not a loopback IP address/,
      );
    }
  });

  it('close is idempotent and leaves no open handles', async () => {
    const tcpHandles = () => process.getActiveResourcesInfo().filter((name) => name.startsWith('TCP')).length;
    const before = tcpHandles();
    const echo = await EchoServer.start();
    const proxy = await TcpProxy.start({ target: { host: '127.0.0.1', port: echo.port } });
    const a = await connect(proxy.port);
    a.socket.write('x');
    await a.received(1);
    await within(proxy.close(), 'proxy close');
    await within(proxy.close(), 'second proxy close');
    await a.waitClosed();
    expect(proxy.stats.open).toBe(0);
    await expect(connect(proxy.port)).rejects.toThrow(/ECONNREFUSED/);
    await echo.close();
    expect(tcpHandles()).toBe(before);
  });
});
