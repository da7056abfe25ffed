/**
 * The worker's policy: what a stack may ask of the Docker host. A worker
 * runs as root next to the Docker socket, so whoever can start a deploy can
 * otherwise get root on the host through a compose file. By default the
 * worker refuses added capabilities, security options that switch off
 * confinement, bind mounts of the Docker socket, bind mounts and build
 * contexts from outside the project directory, privileged containers, and the
 * host's network, PID and IPC namespaces; its policy file allows them
 * explicitly.
 *
 * The worker, not the client, decides which directories are project
 * directories: a project directory counts only when it lies in one of the
 * worker's project roots (DOCKFLOW_STACKS_DIR and allow.project_roots). A
 * client that sends `workingDir: "/"` gains nothing: binds and build contexts
 * under a project directory the worker does not recognise are refused like
 * any other host path. A stack that reads nothing from its directory (images
 * and named volumes only) deploys whatever directory it names, so the CLI
 * works against any worker for such stacks; the directory is then only a
 * label.
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

const AbsolutePath = z.string().refine((p) => path.isAbsolute(p), 'must be an absolute path');

export const PolicyFile = z.strictObject({
  allow: z
    .strictObject({
      /** Capabilities a service may add with cap_add (e.g. NET_ADMIN), or "ALL". */
      cap_add: z.array(z.string()).default([]),
      /** Mount the Docker socket into a container (it is root on the host). */
      docker_socket: z.boolean().default(false),
      /** security_opt values such as seccomp=unconfined or apparmor=unconfined. */
      unconfined: z.boolean().default(false),
      /** Host directories bind mounts and build contexts may come from, besides an allowed project directory. */
      bind_roots: z.array(AbsolutePath).default([]),
      /**
       * Directories project directories may lie in, besides DOCKFLOW_STACKS_DIR:
       * a client's workingDir / projectDirectory / compose files there count as
       * a project (binds and builds under it allowed, files loaded from it).
       */
      project_roots: z.array(AbsolutePath).default([]),
      /** `privileged: true`: every capability and every device. */
      privileged: z.boolean().default(false),
      /** `network_mode: host`, `pid: host`, `ipc: host`: the host's namespaces. */
      host_namespaces: z.boolean().default(false),
    })
    .default({ cap_add: [], docker_socket: false, unconfined: false, bind_roots: [], project_roots: [], privileged: false, host_namespaces: false }),
});
export type PolicyFile = z.infer<typeof PolicyFile>;

export const DEFAULT_POLICY: PolicyFile = PolicyFile.parse({});

/** What the worker knows about its host that the policy file does not say. */
export interface WorkerHost {
  /** DOCKFLOW_STACKS_DIR: its folders are project directories whatever the policy file says. */
  stacksDir?: string;
  /** Docker sockets besides /var/run/docker.sock and /run/docker.sock (the worker's DOCKER_HOST). */
  dockerSockets?: string[];
  /**
   * The host's real path of a path (symlinks resolved, for a path that does
   * not exist yet its nearest existing parent's), so a symlink inside an
   * allowed directory cannot lead out of it. Absent (pure callers): as written.
   */
  realpath?: (p: string) => string;
}

const DOCKER_SOCKETS = ['/var/run/docker.sock', '/run/docker.sock'];

const within = (root: string, p: string) => {
  const rel = path.relative(root, p);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
};

/** Compares paths on the host: absolute, normalised, symlinks resolved when the worker can. */
function hostPaths(host: WorkerHost) {
  const real = (p: string) => (host.realpath ? host.realpath(path.resolve(p)) : path.resolve(p));
  return {
    real,
    /** `p` is `root` or inside it, on the host. */
    inside: (root: string, p: string) => within(real(root), real(p)),
  };
}

/** The worker's project roots with where each comes from, for messages. */
export function projectRoots(policy: PolicyFile, host: WorkerHost): { root: string; origin: string }[] {
  return [
    ...(host.stacksDir ? [{ root: path.resolve(host.stacksDir), origin: 'DOCKFLOW_STACKS_DIR' }] : []),
    ...policy.allow.project_roots.map((root) => ({ root, origin: 'allow.project_roots' })),
  ];
}

export function describeProjectRoots(policy: PolicyFile, host: WorkerHost): string {
  const roots = projectRoots(policy, host);
  if (roots.length === 0) return 'it has none: no DOCKFLOW_STACKS_DIR and no allow.project_roots';
  return roots.map((r) => `${r.origin} ${r.root}`).join(', ');
}

/** `dir` is a project directory this worker recognises: inside one of its project roots. */
export function isProjectDirectory(dir: string, policy: PolicyFile, host: WorkerHost): boolean {
  const { inside } = hostPaths(host);
  return projectRoots(policy, host).some((r) => inside(r.root, dir));
}

/**
 * Every way the stack exceeds the policy, each naming the service and the
 * compose key and how to allow it. Empty: the stack may run.
 */
export function policyViolations(spec: StackSpec, policy: PolicyFile, source: string, host: WorkerHost = {}): string[] {
  const out: string[] = [];
  const { real, inside } = hostPaths(host);
  const allowedCaps = new Set(policy.allow.cap_add.map((c) => c.toUpperCase().replace(/^CAP_/, '')));
  const projectAllowed = isProjectDirectory(spec.workingDir, policy, host);
  const sockets = [...new Set([...DOCKER_SOCKETS, ...(host.dockerSockets ?? [])].flatMap((s) => [path.resolve(s), real(s)]))];

  /** Why a host path a service reads (a bind source, a build context) is refused, or undefined when allowed. */
  const hostPathProblem = (what: string, p: string, suggestion: string): string | undefined => {
    if (policy.allow.bind_roots.some((root) => inside(root, p))) return undefined;
    if (inside(spec.workingDir, p)) {
      if (projectAllowed) return undefined;
      return (
        `${what} is in the project directory ${spec.workingDir}, which is not in one of this worker's project roots (${describeProjectRoots(policy, host)}), ` +
        `and is refused by the worker's policy (${source}); allow it with allow.project_roots: [${spec.workingDir}] or allow.bind_roots: [${suggestion}]`
      );
    }
    return `${what} is outside the project directory ${spec.workingDir} and refused by the worker's policy (${source}); allow it with allow.bind_roots: [${suggestion}]`;
  };

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
    for (const [key, host_] of hostNamespaces) {
      if (host_ && !policy.allow.host_namespaces) {
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
      const onHost = real(source_);
      const socket = sockets.find((s) => s === source_ || s === onHost);
      if (socket !== undefined) {
        if (!policy.allow.docker_socket) {
          out.push(`services.${name}.volumes[${i}]: the Docker socket ${source_} is refused by the worker's policy (${source}): it gives the container root on the host; allow it with allow.docker_socket: true`);
        }
        return;
      }
      // A directory holding the socket (/, /var/run) hands it over just the same.
      const holds = sockets.find((s) => within(onHost, s) || within(source_, s));
      if (holds !== undefined && !policy.allow.docker_socket) {
        out.push(
          `services.${name}.volumes[${i}]: bind mount of ${source_} contains the Docker socket ${holds} and is refused by the worker's policy (${source}): it gives the container root on the host; allow it with allow.docker_socket: true`,
        );
        return;
      }
      const problem = hostPathProblem(`bind mount of ${source_}`, source_, path.dirname(source_));
      if (problem) out.push(`services.${name}.volumes[${i}]: ${problem}`);
    });
    if (service.build) {
      // The worker sends the whole context directory to the engine: a context of / copies the host into an image.
      const context = path.resolve(service.build.context);
      const problem = hostPathProblem(`build context ${context}`, context, context);
      if (problem) out.push(`services.${name}.build.context: ${problem}`);
    }
  }
  return out;
}

/**
 * Host paths a backup reads or a restore writes (bind-mounted data
 * directories), each with the name the user knows it by. Allowed in the
 * project directory when it lies in a project root (`projectDir`; for a
 * restore, whose manifest does not record one: in any project root) or in
 * bind_roots.
 */
export function dataPathViolations(
  paths: { key: string; source: string }[],
  policy: PolicyFile,
  source: string,
  host: WorkerHost = {},
  projectDir?: string,
): string[] {
  const { inside } = hostPaths(host);
  const projectAllowed = projectDir !== undefined && isProjectDirectory(projectDir, policy, host);
  const out: string[] = [];
  for (const p of paths) {
    if (policy.allow.bind_roots.some((root) => inside(root, p.source))) continue;
    if (projectDir !== undefined ? projectAllowed && inside(projectDir, p.source) : isProjectDirectory(p.source, policy, host)) continue;
    const where =
      projectDir !== undefined && inside(projectDir, p.source)
        ? `is in the project directory ${projectDir}, which is not in one of this worker's project roots (${describeProjectRoots(policy, host)})`
        : `is outside ${projectDir !== undefined ? `the project directory ${projectDir}` : `this worker's project roots (${describeProjectRoots(policy, host)})`}`;
    out.push(`${p.key}: the bind-mounted directory ${p.source} ${where} and is refused by the worker's policy (${source}); allow it with allow.bind_roots: [${path.dirname(p.source)}]`);
  }
  return out;
}

/** Files and directories a deploy input names on the worker's host (a compose reference, not an inline spec). */
export interface ComposeReferencePaths {
  composeFiles?: string[];
  projectDirectory?: string;
  envFiles?: string[];
}

/**
 * A compose reference makes the worker read files on its own host: every
 * file and the project directory must lie in one of its project roots, or
 * the input could read any file the worker can (and hand its content to a
 * container). Relative paths resolve as the loader resolves them: compose
 * files against the project directory (else `cwd`), env files against the
 * project directory (else the first compose file's directory).
 */
export function referenceViolations(ref: ComposeReferencePaths, cwd: string, policy: PolicyFile, source: string, host: WorkerHost = {}): string[] {
  const base = path.resolve(cwd, ref.projectDirectory ?? '.');
  const files = (ref.composeFiles ?? []).map((f) => path.resolve(base, f));
  const workingDir = ref.projectDirectory !== undefined ? base : files.length > 0 ? path.dirname(files[0]) : base;
  const named: [string, string][] = [
    ...(ref.projectDirectory !== undefined ? [['input.projectDirectory', base] as [string, string]] : []),
    ...files.map((f, i): [string, string] => [`input.composeFiles[${i}]`, f]),
    ...(ref.envFiles ?? []).map((f, i): [string, string] => [`input.envFiles[${i}]`, path.resolve(workingDir, f)]),
  ];
  return named
    .filter(([, p]) => !isProjectDirectory(p, policy, host))
    .map(
      ([key, p]) =>
        `${key}: ${p} is not in one of this worker's project roots (${describeProjectRoots(policy, host)}), so the worker does not read it (policy: ${source}); ` +
        `put the project under DOCKFLOW_STACKS_DIR or allow its directory with allow.project_roots: [${key === 'input.projectDirectory' ? p : path.dirname(p)}]`,
    );
}
