import { generateKeyPair } from '@libp2p/crypto/keys';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { recordingLogger } from '../../test/support/harness.js';
import { Libp2pTransport } from './libp2pTransport.js';
import type { PeerId, TransportHandlers } from './transport.js';

const started: Libp2pTransport[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((transport) => transport.stop()));
});

async function startTransport(): Promise<Libp2pTransport> {
  const transport = await Libp2pTransport.start({
    privateKey: await generateKeyPair('Ed25519'),
    listen: ['/ip4/127.0.0.1/tcp/0'],
    maxFrameBytes: 1024 * 1024,
    logger: recordingLogger(),
  });
  started.push(transport);
  return transport;
}

/** Handlers that keep every frame received, by peer; each stream's hello is the text `hello`. */
function recordingHandlers(): TransportHandlers & { frames: Array<{ from: PeerId; text: string }> } {
  const frames: Array<{ from: PeerId; text: string }> = [];
  return {
    frames,
    frame: (from, frame) => frames.push({ from, text: new TextDecoder().decode(frame) }),
    helloFrame: () => new TextEncoder().encode('hello'),
    connected: () => {},
    disconnected: () => {},
  };
}

describe('libp2p transport', () => {
  it('resets a stream that arrives before the handlers are set, so the peer\'s later frames come on a new one', async () => {
    // The receiver is listening but not set up, as a node is while its vats restart.
    const receiver = await startTransport();
    const sender = await startTransport();
    const sent = recordingHandlers();
    sender.setHandlers(sent);
    await sender.addPeerAddresses(receiver.peerId, receiver.addresses());
    // The sender may or may not see this write fail: the reset reaches it after the write is handed over.
    await sender.send(receiver.peerId, [new TextEncoder().encode('early')]).catch(() => {});

    const received = recordingHandlers();
    receiver.setHandlers(received);
    // What the sessions do: resend until the frame is in (bounded here: 50 tries, 100 ms apart).
    for (let attempt = 0; attempt < 50 && !received.frames.some((frame) => frame.text === 'later'); attempt += 1) {
      await sender.send(receiver.peerId, [new TextEncoder().encode('later')]).catch(() => {});
      await sleep(100);
    }
    const texts = received.frames.map((frame) => frame.text);
    expect(texts).toContain('later');
    // Whatever stream carried it opened with its hello, from the sender's authenticated peer id.
    expect(texts[0]).toBe('hello');
    expect(texts).not.toContain('early');
    expect(new Set(received.frames.map((frame) => frame.from))).toEqual(new Set([sender.peerId]));
  });
});
