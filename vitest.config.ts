import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    // Vats need SES lockdown before anything else loads; a fresh process per file keeps it honest.
    setupFiles: ['test/support/lockdown.ts'],
    pool: 'forks',
    // Vitest's default in run mode is one worker less than the CPUs: one on
    // the 2-core CI machine. Most files wait on child processes, sockets and
    // fsyncs, so two at a time use both cores.
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
