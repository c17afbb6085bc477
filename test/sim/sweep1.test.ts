import { it } from 'vitest';
import { runSweepPart, sweepSeeds } from './sweep.js';

it(`simulated seeds, part 1 of 2: ${sweepSeeds / 2} seeds, no violations`, () => runSweepPart(0, 2), 600_000);
