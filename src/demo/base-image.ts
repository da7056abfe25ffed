/**
 * A tiny base image built on the host, never pulled: FROM scratch plus the
 * host's static busybox (Debian's busybox-static), giving sh, httpd, wget and
 * tar. The demo stack and the test stacks run on it, so neither needs a
 * registry.
 */
import Docker from 'dockerode';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createHash } from 'node:crypto';

export const BASE_IMAGE = 'dockflow/busybox:1';
const BUSYBOX = '/bin/busybox';
const DOCKERFILE = [
  'FROM scratch',
  'COPY busybox /bin/busybox',
  'RUN ["/bin/busybox", "--install", "-s", "/bin"]',
  'RUN mkdir -p /tmp /www /data && chmod 1777 /tmp',
  'LABEL io.dockflow.base-image=1',
  '',
].join('\n');

/** Build the base image unless an identical one (same busybox, same Dockerfile) exists. */
export async function ensureBaseImage(docker: Docker, tag = BASE_IMAGE): Promise<string> {
  if (!fs.existsSync(BUSYBOX)) throw new Error(`${BUSYBOX} is missing: install Debian's busybox-static (scripts/testbed.sh does)`);
  const fingerprint = createHash('sha256').update(fs.readFileSync(BUSYBOX)).update(DOCKERFILE).digest('hex').slice(0, 16);
  try {
    const info = await docker.getImage(tag).inspect();
    if (info.Config?.Labels?.['io.dockflow.base-fingerprint'] === fingerprint) return info.Id;
  } catch {
    // not built yet
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dockflow-image-'));
  try {
    fs.copyFileSync(BUSYBOX, path.join(dir, 'busybox'));
    fs.writeFileSync(path.join(dir, 'Dockerfile'), DOCKERFILE);
    const stream = await docker.buildImage({ context: dir, src: ['Dockerfile', 'busybox'] }, { t: tag, labels: { 'io.dockflow.base-fingerprint': fingerprint } });
    await new Promise<void>((resolve, reject) =>
      docker.modem.followProgress(stream, (err: Error | null, out: { error?: string }[]) => {
        const failed = out?.find((o) => o.error);
        if (err || failed) reject(err ?? new Error(failed?.error));
        else resolve();
      }),
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return (await docker.getImage(tag).inspect()).Id;
}
