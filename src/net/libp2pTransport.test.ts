import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { tcp } from '@libp2p/tcp';
import { createLibp2p } from 'libp2p';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { recordingLogger } from '../../test/support/harness.js';
import { eventually } from '../../test/support/nodes.js';
import { kenProtocol, Libp2pTransport } from './libp2pTransport.js';
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

  // Two patches in patches/: @libp2p/tcp corks the socket for the chunks
  // of one send (Noise's length prefix and its ciphertext), and yamux sends
  // no window update until half the window is used, as other yamux
  // implementations do. Without them a frame cost two writes to send and
  // two more for the receiver's window update.
  it('writes a batch of frames to its socket once, and the receiver writes nothing back for it', async () => {
    const receiver = await startTransport();
    const sender = await startTransport();
    const received = recordingHandlers();
    receiver.setHandlers(received);
    sender.setHandlers(recordingHandlers());
    await sender.addPeerAddresses(receiver.peerId, receiver.addresses());
    await sender.send(receiver.peerId, [new TextEncoder().encode('warm-up')]);
    await eventually('the warm-up frame', () => received.frames.length === 2);
    // Whatever the connection's set-up still writes, written before the count starts.
    await sleep(100);
    const calls = { write: vi.spyOn(net.Socket.prototype, '_write'), writev: vi.spyOn(net.Socket.prototype, '_writev') };
    try {
      await sender.send(receiver.peerId, Array.from({ length: 100 }, (_, index) => new TextEncoder().encode(`frame ${index}`)));
      await eventually('the batch', () => received.frames.length === 102);
      await sleep(100);
      expect({ write: calls.write.mock.calls.length, writev: calls.writev.mock.calls.length }).toEqual({ write: 0, writev: 1 });
    } finally {
      calls.write.mockRestore();
      calls.writev.mockRestore();
    }
  });

  it('warns, once, that a peer does not speak its frame protocol (another ken-node version), and sends nothing to it', async () => {
    const logger = recordingLogger();
    const transport = await Libp2pTransport.start({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], maxFrameBytes: 1024 * 1024, logger });
    started.push(transport);
    transport.setHandlers(recordingHandlers());
    // A node of the version before, as far as the protocol goes: it handles the frames of version 3 only.
    const older = await createLibp2p({ addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] }, transports: [tcp()], connectionEncrypters: [noise()], streamMuxers: [yamux()] });
    try {
      const received: string[] = [];
      await older.handle('/ken-node/frames/3.0.0', () => void received.push('stream'));
      const olderId = older.peerId.toString();
      await transport.addPeerAddresses(olderId, older.getMultiaddrs().map(String));
      for (let attempt = 0; attempt < 3; attempt += 1) {
        await expect(transport.send(olderId, [new TextEncoder().encode('frame')])).rejects.toThrow();
      }
      const warnings = logger.entries.filter((entry) => entry.message?.startsWith('the peer does not speak'));
      expect(warnings).toHaveLength(1);
      expect(warnings[0]?.object).toMatchObject({ peerId: olderId, protocol: kenProtocol });
      expect(received).toEqual([]);
    } finally {
      await older.stop();
    }
  });
});
