/**
 * What a backup of a project covers, decided from its spec alone: the data
 * sets to archive, the services to stop meanwhile and the hooks to run.
 * Pure (workflows call it); every error names the project and what was not
 * found, with what exists instead.
 *
 * Data sets ("targets"):
 * - named volumes mounted by a service or declared at the top level;
 * - bind mounts of a directory inside the project directory that some
 *   service mounts read-write (the `./data` of a SQLite app). Bind mounts
 *   elsewhere (`~/.ssh`, `/var/run/docker.sock`) are left out unless named.
 *
 * Selection:
 * - nothing chosen: every candidate except external volumes (they belong to
 *   something else too);
 * - `--service S`: every named volume S mounts (external ones included) and
 *   S's bind-mounted data directories;
 * - `--volume V`: exactly that data set, by volume key, Docker volume name,
 *   or bind path (`./data`, `data` or absolute), read-only or not.
 * - Anonymous volumes and tmpfs are never archived: they do not outlive
 *   their container.
 *
 * Services marked `stop` (x-dockflow or offen's label) are stopped only when
 * they mount a chosen data set; hooks run for services that mount one.
 */
import type { MountSpec, StackSpec } from '../model/spec';
import { topologicalOrder } from '../plan/order';
import { serviceBackupSettings, type BackupHook } from './settings';
import { archiveFileName } from './ids';
import type { ArchiveEntry } from './manifest';

export interface BackupTarget {
  key: string;
  kind: 'volume' | 'bind';
  /** Docker volume name or absolute host path. */
  source: string;
  external: boolean;
  /** Services (sorted) whose containers mount it. */
  services: string[];
  archive: string;
  /** Chosen by default rather than named: a bind directory that turns out missing is skipped with a warning. */
  optional: boolean;
  /** One host's copy of a data set a spread service holds on each of its hosts (`archive` names the host): workflows/backup-share.ts. */
  hostCopy?: true;
}

export interface BackupSelection {
  volumes?: string[];
  services?: string[];
}

export interface BackupPlan {
  project: string;
  targets: BackupTarget[];
  /** Services to stop while archiving, dependants first. */
  stop: { service: string; origin: string }[];
  /** Hooks of services that mount a chosen data set, in dependency order. */
  pre: BackupHook[];
  post: BackupHook[];
}

/** The selection or the settings are wrong; nothing has been touched. */
export class BackupPlanError extends Error {}

/** Collapse `.`/`..` segments and duplicate or trailing slashes of an absolute POSIX path. */
export function normalizePath(p: string): string {
  const out: string[] = [];
  for (const part of p.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') out.pop();
    else out.push(part);
  }
  return `/${out.join('/')}`;
}

function inside(dir: string, p: string): boolean {
  const d = normalizePath(dir);
  const n = normalizePath(p);
  return d === '/' ? true : n === d || n.startsWith(`${d}/`);
}

/** `./data` for a path inside the project directory, else the absolute path. */
export function bindKey(workingDir: string, source: string): string {
  const d = normalizePath(workingDir);
  const n = normalizePath(source);
  if (n === d) return '.';
  return inside(d, n) ? `./${n.slice(d === '/' ? 1 : d.length + 1)}` : n;
}

interface Candidate extends Omit<BackupTarget, 'optional'> {
  /** In the default selection. */
  byDefault: boolean;
  readWrite: boolean;
}

function candidates(spec: StackSpec): Candidate[] {
  const byKey = new Map<string, Candidate>();
  const add = (c: Omit<Candidate, 'services' | 'readWrite'>, service: string | undefined, mount: MountSpec | undefined) => {
    const existing = byKey.get(c.key) ?? { ...c, services: [], readWrite: false };
    if (service !== undefined && !existing.services.includes(service)) existing.services.push(service);
    if (mount && !mount.readOnly) existing.readWrite = true;
    byKey.set(c.key, existing);
  };
  for (const name of Object.keys(spec.services).sort()) {
    for (const m of spec.services[name].volumes) {
      if (m.type === 'volume' && m.source !== undefined) {
        const v = spec.volumes[m.source];
        const external = v?.external ?? false;
        add({ key: m.source, kind: 'volume', source: v?.name ?? m.source, external, archive: archiveFileName('volume', m.source), byDefault: !external }, name, m);
      } else if (m.type === 'bind' && m.source !== undefined) {
        const key = bindKey(spec.workingDir, m.source);
        add({ key, kind: 'bind', source: normalizePath(m.source), external: false, archive: archiveFileName('bind', key), byDefault: false }, name, m);
      }
    }
  }
  for (const key of Object.keys(spec.volumes).sort()) {
    const v = spec.volumes[key];
    add({ key, kind: 'volume', source: v.name, external: v.external, archive: archiveFileName('volume', key), byDefault: !v.external }, undefined, undefined);
  }
  for (const c of byKey.values()) {
    // A bind is the project's data when it lives in the project and a service writes to it.
    if (c.kind === 'bind') c.byDefault = inside(spec.workingDir, c.source) && c.source !== normalizePath(spec.workingDir) && c.readWrite;
    c.services.sort();
  }
  return [...byKey.values()].sort((a, b) => (a.kind === b.kind ? a.key.localeCompare(b.key) : a.kind === 'volume' ? -1 : 1));
}

/**
 * Every data set a backup of this spec can take (default or named): the
 * only places a restore may write to. Keyed by data set key.
 */
export function dataSets(spec: StackSpec): Map<string, Omit<BackupTarget, 'optional'>> {
  return new Map(candidates(spec).map(({ byDefault: _d, readWrite: _rw, ...target }) => [target.key, target]));
}

export function describeCandidates(all: { kind: 'volume' | 'bind'; key: string }[]): string {
  const volumes = all.filter((c) => c.kind === 'volume').map((c) => c.key);
  const binds = all.filter((c) => c.kind === 'bind').map((c) => c.key);
  return `volumes: ${volumes.join(', ') || 'none'}; bind mounts: ${binds.join(', ') || 'none'}`;
}

/** Resolve what the user typed with --volume to a candidate: key, Docker name or bind path. */
function findCandidate(spec: StackSpec, all: Candidate[], wanted: string): Candidate | undefined {
  const direct = all.find((c) => c.key === wanted) ?? all.find((c) => c.kind === 'volume' && c.source === wanted);
  if (direct) return direct;
  const absolute = wanted.startsWith('/') ? normalizePath(wanted) : normalizePath(`${spec.workingDir}/${wanted}`);
  return all.find((c) => c.kind === 'bind' && c.source === absolute);
}

function serviceOrder(spec: StackSpec): string[] {
  try {
    return topologicalOrder(spec);
  } catch (err) {
    throw new BackupPlanError(`project ${spec.project}: ${(err as Error).message}`);
  }
}

export function planBackup(spec: StackSpec, selection: BackupSelection = {}): BackupPlan {
  const all = candidates(spec);
  const chosen = new Map<string, BackupTarget>();
  const take = (c: Candidate, optional: boolean) => {
    const { byDefault: _d, readWrite: _rw, ...target } = c;
    const previous = chosen.get(c.key);
    chosen.set(c.key, { ...target, optional: optional && (previous?.optional ?? true) });
  };
  const volumes = selection.volumes ?? [];
  const services = selection.services ?? [];
  for (const s of services) {
    if (!(s in spec.services)) {
      throw new BackupPlanError(`project ${spec.project} has no service ${s} (services: ${Object.keys(spec.services).sort().join(', ')})`);
    }
  }
  for (const v of volumes) {
    const c = findCandidate(spec, all, v);
    if (!c) throw new BackupPlanError(`project ${spec.project} has no volume or bind mount "${v}" (${describeCandidates(all)})`);
    take(c, false);
  }
  for (const s of services) {
    for (const c of all) {
      if (!c.services.includes(s)) continue;
      if (c.kind === 'volume' || c.byDefault) take(c, true);
    }
  }
  if (volumes.length === 0 && services.length === 0) {
    for (const c of all) if (c.byDefault) take(c, true);
  }
  const targets = [...chosen.values()].sort((a, b) => (a.kind === b.kind ? a.key.localeCompare(b.key) : a.kind === 'volume' ? -1 : 1));

  // Every service's settings are read, so a typo anywhere is an error and not a silent no-op.
  const order = serviceOrder(spec);
  const settings = new Map(
    order.map((name) => {
      try {
        return [name, serviceBackupSettings(spec.services[name])] as const;
      } catch (err) {
        throw new BackupPlanError(`project ${spec.project}: ${(err as Error).message}`);
      }
    }),
  );
  const touched = new Set(targets.flatMap((t) => t.services));
  const involved = order.filter((name) => touched.has(name));
  const stop = [...involved]
    .reverse()
    .filter((name) => settings.get(name)!.stop)
    .map((name) => ({ service: name, origin: settings.get(name)!.stopOrigin! }));
  return {
    project: spec.project,
    targets,
    stop,
    pre: involved.flatMap((name) => settings.get(name)!.pre),
    post: involved.flatMap((name) => settings.get(name)!.post),
  };
}

/**
 * The archives of a backup a restore should put back: all, or those named
 * (key, source or archive file). Naming a data set held as host copies
 * takes every host's copy (a restore puts back all of them or none).
 */
export function selectArchives(manifest: { project: string; id: string; archives: ArchiveEntry[] }, wanted: string[] = []): ArchiveEntry[] {
  if (wanted.length === 0) return manifest.archives;
  const named = wanted.map((w) => {
    const normalized = w.startsWith('/') ? normalizePath(w) : w;
    const found = manifest.archives.find(
      (a) => a.key === w || a.source === normalized || a.archive === w || (a.kind === 'bind' && a.key === `./${w.replace(/^\.\//, '').replace(/\/+$/, '')}`),
    );
    if (!found) {
      throw new BackupPlanError(
        `backup ${manifest.id} of project ${manifest.project} has no data set "${w}" (it holds: ${manifest.archives.map((a) => a.key).join(', ')})`,
      );
    }
    return found;
  });
  if (!named.some((a) => a.hostCopy)) return named;
  const copies = named.flatMap((a) => (a.hostCopy ? manifest.archives.filter((b) => b.hostCopy && b.key === a.key) : [a]));
  return [...new Set(copies)];
}

/** A container as the backup activities observe it. */
export interface DataContainer {
  id: string;
  name: string;
  service: string;
  number: number;
  oneoff: boolean;
  running: boolean;
  imageId: string;
  hasHealthcheck: boolean;
  /** Services it depends on (compose's depends_on label). */
  dependsOn: string[];
  mounts: { type: string; name?: string; source: string; destination: string; rw: boolean }[];
}

/** Whether a container mounts a data set (a volume by name, a bind by host path). */
export function mountsTarget(container: Pick<DataContainer, 'mounts'>, target: { kind: 'volume' | 'bind'; source: string }): boolean {
  return container.mounts.some((m) =>
    target.kind === 'volume' ? m.type === 'volume' && m.name === target.source : m.type === 'bind' && normalizePath(m.source) === normalizePath(target.source),
  );
}

/**
 * Containers in start order: a service's dependencies before it, names
 * sorted within a service. Reverse it to stop dependants first.
 */
export function startOrder<T extends Pick<DataContainer, 'name' | 'service' | 'dependsOn'>>(containers: T[]): T[] {
  const services = [...new Set(containers.map((c) => c.service))].sort();
  const deps = new Map(services.map((s) => [s, new Set(containers.filter((c) => c.service === s).flatMap((c) => c.dependsOn))]));
  const placed: string[] = [];
  while (placed.length < services.length) {
    const ready = services.filter((s) => !placed.includes(s) && [...deps.get(s)!].every((d) => placed.includes(d) || !services.includes(d)));
    // A cycle cannot come from a valid compose file; place the rest in name order rather than loop.
    placed.push(...(ready.length > 0 ? ready : services.filter((s) => !placed.includes(s))));
  }
  return placed.flatMap((s) => containers.filter((c) => c.service === s).sort((a, b) => a.name.localeCompare(b.name)));
}

/**
 * Images a helper container for a data set may use, best first: those of
 * containers that mount it (already on the host, and they can read it), then
 * the services' images from the spec, then any other image of the project.
 */
export function helperImages(target: { kind: 'volume' | 'bind'; source: string; services?: string[] }, containers: DataContainer[], spec?: StackSpec): string[] {
  const users = containers.filter((c) => mountsTarget(c, target));
  const fromSpec = spec ? (target.services ?? []).map((s) => spec.services[s]?.image).filter((i): i is string => i !== undefined) : [];
  const images = [...users.filter((c) => c.running), ...users].map((c) => c.imageId).concat(fromSpec, containers.map((c) => c.imageId));
  return [...new Set(images)].filter(Boolean);
}
