import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import { tcp } from '@libp2p/tcp';
import { lpStream } from '@libp2p/utils';
import { webSockets } from '@libp2p/websockets';
import { createLibp2p, type Libp2p } from 'libp2p';

/**
 * The baseline under ken-node's remote layer: the node's libp2p stack (TCP
 * and WebSockets, Noise, Yamux, length-prefixed messages, as in
 * src/net/libp2pTransport.ts) with nothing above it.
 */
export function startRawNode(listen: string[]): Promise<Libp2p> {
  return createLibp2p({
    addresses: { listen },
    transports: [tcp(), webSockets()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
  });
}

/** Reads messages until an empty one, then answers with how many it read (as decimal text). */
export const sinkProtocol = '/ken-bench/sink/1.0.0';
/** Writes every message back. */
export const echoProtocol = '/ken-bench/echo/1.0.0';

export async function serveRaw(node: Libp2p): Promise<void> {
  await node.handle(sinkProtocol, async (stream) => {
    const messages = lpStream(stream);
    let count = 0;
    while ((await messages.read()).byteLength > 0) count += 1;
    await messages.write(new TextEncoder().encode(String(count)));
  });
  await node.handle(echoProtocol, async (stream) => {
    const messages = lpStream(stream);
    try {
      for (;;) await messages.write(await messages.read());
    } catch {
      // The dialer closed the stream.
    }
  });
}
