import '../../src/net/platform.js';
// SES lockdown (through @endo/init) must run before any module that uses
// harden or Far; vitest runs this file first in every test process.
import '@endo/init';
import '../../src/util/errorStackDepth.js';
