/**
 * The worker's policy: what a stack may ask of the Docker host. A worker
 * runs as root next to the Docker socket, so whoever can start a deploy can
 * otherwise get root on the host through a compose file. By default the
 * worker refuses added capabilities, security options that switch off
 * confinement, bind mounts of the Docker socket, and bind mounts from outside
 * the project directory, privileged containers, and the host's network, PID
 * and IPC namespaces; its policy file allows them explicitly.
 *
 * (`devices` and other containers' namespaces never reach the worker: the
 * loader refuses them as unsupported, and an inline spec is a strict schema
 * without them.)
 *
 * Pure: the file is read by the activity (activities/policy.ts).
 */
import * as path from 'node:path';
import { z } from 'zod';
import type { StackSpec } from '../model/spec';

export const PolicyFile = z.strictObject({
  allow: z
    .strictObject({
      /** Capabilities a service may add with cap_add (e.g. NET_ADMIN), or "ALL". */
      cap_add: z.array(z.string()).default([]),
      /** Mount the Docker socket into a container (it is root on the host). */
      docker_socket: z.boolean().default(false),
      /** security_opt values such as seccomp=unconfined or apparmor=unconfined. */
      unconfined: z.boolean().default(false),
      /** Host directories bind mounts may come from, besides the project directory. */
      bind_roots: z.array(z.string().refine((p) => path.isAbsolute(p), 'must be an absolute path')).default([]),
      /** `privileged: true`: every capability and every device. */
      privileged: z.boolean().default(false),
      /** `network_mode: host`, `pid: host`, `ipc: host`: the host's namespaces. */
      host_namespaces: z.boolean().default(false),
    })
    .default({ cap_add: [], docker_socket: false, unconfined: false, bind_roots: [], privileged: false, host_namespaces: false }),
});
export type PolicyFile = z.infer<typeof PolicyFile>;

export const DEFAULT_POLICY: PolicyFile = PolicyFile.parse({});

const DOCKER_SOCKETS = ['/var/run/docker.sock', '/run/docker.sock'];

const within = (root: string, p: string) => {
  const rel = path.relative(root, p);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
};

/**
 * Every way the stack exceeds the policy, each naming the service and the
 * compose key and how to allow it. Empty: the stack may run.
 */
export function policyViolations(spec: StackSpec, policy: PolicyFile, source: string): string[] {
  const out: string[] = [];
  const allowedCaps = new Set(policy.allow.cap_add.map((c) => c.toUpperCase().replace(/^CAP_/, '')));
  const roots = [spec.workingDir, ...policy.allow.bind_roots];
  for (const name of Object.keys(spec.services).sort()) {
    const service = spec.services[name];
    service.capAdd.forEach((cap, i) => {
      const plain = cap.toUpperCase().replace(/^CAP_/, '');
      if (!allowedCaps.has(plain) && !allowedCaps.has('ALL')) {
        out.push(`services.${name}.cap_add[${i}]: ${cap} is refused by the worker's policy (${source}); allow it with allow.cap_add: [${plain}]`);
      }
    });
    if (service.privileged && !policy.allow.privileged) {
      out.push(`services.${name}.privileged: a privileged container is refused by the worker's policy (${source}): it has every capability and device of the host; allow it with allow.privileged: true`);
    }
    const hostNamespaces: [string, boolean][] = [
      ['network_mode', service.networkMode === 'host'],
      ['pid', service.pidMode === 'host'],
      ['ipc', service.ipcMode === 'host'],
    ];
    for (const [key, host] of hostNamespaces) {
      if (host && !policy.allow.host_namespaces) {
        out.push(`services.${name}.${key}: the host's ${key === 'network_mode' ? 'network' : key.toUpperCase()} namespace is refused by the worker's policy (${source}); allow it with allow.host_namespaces: true`);
      }
    }
    service.securityOpt.forEach((opt, i) => {
      if (/unconfined/i.test(opt) && !policy.allow.unconfined) {
        out.push(`services.${name}.security_opt[${i}]: ${opt} is refused by the worker's policy (${source}); allow it with allow.unconfined: true`);
      }
    });
    service.volumes.forEach((mount, i) => {
      if (mount.type !== 'bind' || !mount.source) return;
      const source_ = path.resolve(mount.source);
      if (DOCKER_SOCKETS.includes(source_)) {
        if (!policy.allow.docker_socket) {
          out.push(`services.${name}.volumes[${i}]: the Docker socket ${source_} is refused by the worker's policy (${source}): it gives the container root on the host; allow it with allow.docker_socket: true`);
        }
        return;
      }
      if (!roots.some((root) => within(root, source_))) {
        out.push(
          `services.${name}.volumes[${i}]: bind mount of ${source_} is outside the project directory ${spec.workingDir} and refused by the worker's policy (${source}); allow it with allow.bind_roots: [${path.dirname(source_)}]`,
        );
      }
    });
  }
  return out;
}
