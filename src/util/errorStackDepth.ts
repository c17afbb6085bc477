/**
 * V8's default depth for the stack an error records: 10 frames. Imported
 * right after `@endo/init`, whose post-lockdown step sets
 * `Error.stackTraceLimit` to Infinity in the start compartment. Every
 * error made in the process records its stack when it is made (vats'
 * errors too: their compartments' `Error` is made by the same constructor),
 * and some are made on hot paths: libp2p's length-prefixed decoders learn
 * that a buffer holds no whole length prefix from a thrown RangeError.
 * Forty frames deep, such a throw costs 24-31 µs with the whole stack, 6-8
 * with ten frames (docs/benchmarks.md).
 */
Error.stackTraceLimit = 10;
