import { it } from 'vitest';
import { runSweepPart, sweepSeeds } from './sweep.js';

it(`simulated seeds, part 2 of 2: ${sweepSeeds / 2} seeds, no violations`, () => runSweepPart(1, 2), 600_000);
