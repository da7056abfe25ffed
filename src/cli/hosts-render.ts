/** How `dockflow ps` shows a project across hosts (types only: nothing heavy loads at CLI start). */
import type { StackHosts } from '../../workflows/host-status';

/** ps lines for a project across hosts: one a host, with what it drifted by. */
export function renderStackHosts(status: StackHosts): string[] {
  const lines = [`  hosts (stack at ${status.revision === undefined ? 'no revision' : `revision ${status.revision}`}):`];
  for (const h of status.hosts) {
    const at = h.ledgerRevision === undefined ? 'no revision' : `revision ${h.ledgerRevision}`;
    if (h.unreachable) lines.push(`    ${h.host}: not answering`);
    else if (h.drift.length === 0) lines.push(`    ${h.host}: ${at}, in sync`);
    else lines.push(`    ${h.host}: drifted (${h.drift.join('; ')}); the next operation converges it`);
  }
  return lines;
}
