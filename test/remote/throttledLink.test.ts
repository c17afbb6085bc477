import { afterEach, describe, expect, it } from 'vitest';
import { exampleVat } from '../support/harness.js';
import { defaultSessionOptions } from '../../src/remote/session.js';
import { eventually, startNode, tempDirs } from '../support/nodes.js';

const dirs = tempDirs();
afterEach(() => dirs.cleanup());

const messages = 1_500;
/** The receiver takes this many messages a second from its peer, far fewer than the sender could send. */
const inboundPerSecond = 500;
const inboundBurst = 100;

describe('a throttled link over libp2p TCP', () => {
  it(`delivers ${messages} messages exactly once at the receiver's rate, with retransmits under 10% of them: the sender waits for credit instead of being dropped`, async () => {
    const listen = ['/ip4/127.0.0.1/tcp/0'];
    // The node's own resend timing (not the tests' quick one): a timer that fires while rows wait for credit would count as retransmits.
    const sender = await startNode({ dir: dirs.make('ken-sender-'), transport: { kind: 'libp2p', listen }, session: { resendMs: defaultSessionOptions.resendMs, maxResendMs: defaultSessionOptions.maxResendMs } });
    const receiver = await startNode({
      dir: dirs.make('ken-receiver-'),
      transport: { kind: 'libp2p', listen },
      session: { inboundFramesPerSecond: inboundPerSecond, inboundFrameBurst: inboundBurst },
    });
    await receiver.node.kernel.createVat({ name: 'recorder', bundle: await exampleVat('recorder') });
    await sender.node.kernel.createVat({ name: 'sender', bundle: await exampleVat('sender') });
    const recorder = receiver.node.kernel.rootOf('recorder');
    await sender.node.kernel.call(sender.node.kernel.rootOf('sender'), 'setTarget', [await sender.node.redeemUrl(await receiver.node.issueUrl(recorder))]);
    const startedAt = Date.now();
    // Everything at once: far past what the receiver takes in a second.
    for (let sent = 0; sent < messages; sent += 500) await sender.node.kernel.call(sender.node.kernel.rootOf('sender'), 'sendBatchToTarget', [500, messages]);
    await eventually(`${messages} consumed`, async () => (await receiver.node.kernel.call(recorder, 'count')) === messages, 60_000);
    const elapsedMs = Date.now() - startedAt;
    expect(await receiver.node.kernel.call(recorder, 'entries')).toEqual(Array.from({ length: messages }, (_, index) => index + 1));
    await eventually('the outbox drained', () => sender.node.sessions.outboxDepth(receiver.node.peerId) === 0, 30_000);

    const sent = sender.node.sessions.stats;
    const received = receiver.node.sessions.stats;
    console.log(
      `throttled link: ${messages} messages in ${elapsedMs} ms (the rate allows ${inboundPerSecond}/s after a burst of ${inboundBurst}); ` +
        `sender sent ${sent.msgsSent} message frames, ${sent.retransmits} retransmits; receiver dropped ${received.framesBeyondWindow} past its window, ${received.gapsDropped} gaps, ${received.duplicatesDropped} duplicates`,
    );
    // Messages in both directions (the results come back), so count the sender's and the receiver's.
    expect(sent.retransmits).toBeLessThan(messages / 10);
    expect(received.framesBeyondWindow + received.gapsDropped).toBeLessThan(messages / 10);
    // The rate held: the messages took at least as long as it allows.
    expect(elapsedMs).toBeGreaterThanOrEqual(((messages - inboundBurst) / inboundPerSecond) * 1000 * 0.9);
    await sender.node.stop();
    await receiver.node.stop();
  }, 120_000);
});
