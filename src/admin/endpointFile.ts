import { readFileSync, rmSync } from 'node:fs';
import { z } from 'zod';
import { writeFileAtomically } from '../util/atomicFile.js';

/**
 * `<data-dir>/admin.json`: where a running node's admin endpoint listens,
 * so that client commands need only the data directory (the port may be
 * one the OS picked). A node killed with SIGKILL leaves it behind; a client
 * then finds nobody listening and says so.
 */
const adminEndpointSchema = z.strictObject({
  url: z.string().regex(/^http:\/\/127\.0\.0\.1:[0-9]{1,5}$/),
  pid: z.int().positive(),
});

export type AdminEndpoint = z.infer<typeof adminEndpointSchema>;

export function writeAdminEndpoint(file: string, endpoint: AdminEndpoint): void {
  writeFileAtomically(file, `${JSON.stringify(endpoint)}\n`);
}

/** The endpoint a node wrote, or undefined if there is none (no node has started, or the last one stopped cleanly). */
export function readAdminEndpoint(file: string): AdminEndpoint | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  return adminEndpointSchema.parse(JSON.parse(text));
}

export function removeAdminEndpoint(file: string): void {
  rmSync(file, { force: true });
}
