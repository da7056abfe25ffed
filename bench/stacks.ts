/** Compose files the benchmarks deploy, shared by bench/run.ts and bench/deploy-timeline.ts. */
import { BASE_IMAGE } from '../src/demo/base-image';

/** Level (0-based) of service i in a chain stack of n services and `depth` levels. */
export function chainLevel(i: number, n: number, depth: number): number {
  return Math.min(depth - 1, Math.floor((i * depth) / n));
}

/** n services in `depth` levels; each service of a level depends (service_healthy) on one of the level before. */
export function chainStack(project: string, n: number, depth: number, subnet?: string): string {
  const lines = [`name: ${project}`, ...(subnet ? ['networks:', '  default:', '    ipam:', `      config: [{subnet: ${subnet}}]`] : []), 'services:'];
  for (let i = 0; i < n; i++) {
    const level = chainLevel(i, n, depth);
    const dep = level === 0 ? undefined : Math.floor(((level - 1) * n) / depth);
    lines.push(
      `  s${i}:`,
      `    image: ${BASE_IMAGE}`,
      // Ready 1 s after it starts, like a small app booting; the healthcheck polls every second.
      `    command: ["sh", "-c", "sleep 1; touch /tmp/ready; exec sleep 3600"]`,
      `    init: true`,
      `    healthcheck: {test: ["CMD", "test", "-f", "/tmp/ready"], interval: 1s, timeout: 1s, retries: 60}`,
    );
    if (dep !== undefined) lines.push(`    depends_on: {s${dep}: {condition: service_healthy}}`);
  }
  return `${lines.join('\n')}\n`;
}

