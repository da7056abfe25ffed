/**
 * Differential test against docker-compose 1.29: the same compose files,
 * deployed once by `docker-compose up -d` and once by dockflow (a real
 * worker on a real Temporal dev server), must give the same containers,
 * networks and volumes, as `docker inspect` shows them.
 *
 * The corpus (test/fixtures/differential) covers every key the loader
 * accepts in a form 1.29 can read; docs/compose-compatibility.md lists the
 * keys 1.29 cannot read (skipped here) and every deliberate deviation. The
 * two deployments run one after the other (fixed ports, container_name and
 * the fixed subnet would collide otherwise) under two project names.
 *
 * What is expected to differ is normalised away before the comparison: the
 * project name wherever it appears, container IDs and the short-ID alias
 * Docker adds, anonymous volume names, addresses Docker assigns, timestamps,
 * dockflow's own io.dockflow.* labels and dockflow-revision/* image tags,
 * the value (not the presence) of the
 * config-hash label, and the order of Env entries. Every remaining
 * difference must match an entry of KNOWN_DEVIATIONS, each pointing to its
 * section of docs/compose-compatibility.md; a new difference fails, and so
 * does an entry that no longer matches anything.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFile } from 'node:child_process';
import type Docker from 'dockerode';
import { loadStack } from '../../src/compose';
import { Label } from '../../src/model/labels';
import { freePort, removeProject, REPO_ROOT, startTestBed, startWorker, TEST_PROJECTS_ROOT, type TestBed } from '../support/harness';

const TASK_QUEUE = 'it-diff';
const FIXTURES = path.join(REPO_ROOT, 'test', 'fixtures', 'differential');
const COMPOSE_PREFIX = 'diffdc';
const DOCKFLOW_PREFIX = 'diffdf';
const EXT_NETWORK = 'diff-ext-net';
const EXT_VOLUME = 'diff-ext-vol';

interface CorpusStack {
  key: string;
  files: string[];
  profiles: string[];
}

const CORPUS: CorpusStack[] = [
  { key: 'kitchen', files: ['docker-compose.yml'], profiles: ['tools'] },
  { key: 'seeds', files: ['docker-compose.yml', 'docker-compose.prod.yml'], profiles: [] },
];
/** The test bed's images built without a registry (scripts/images), which the seeds stack runs. */
const LOCAL_IMAGES = ['dockflow-local/postgres:15', 'dockflow-local/nginx:1.22'];
/** Tag prefix of the images the seeds stack names itself (`image:` beside `build:`). */
const IMAGE_PREFIX = 'diff-seeds';

/**
 * Known, documented differences. `path` matches `<object> <json path>` of
 * one difference, e.g. `container api#1 HostConfig.Init`. Each entry names
 * its section in docs/compose-compatibility.md.
 */
interface Deviation {
  doc: string;
  path: RegExp;
}

const DOC = 'docs/compose-compatibility.md';
const KNOWN_DEVIATIONS: Deviation[] = [
  // Compose v2's names, which `docker compose` (v2) reads; 1.29 used "_".
  { doc: `${DOC}#container-and-image-names`, path: /^\S+ container \S+ Name$/ },
  { doc: `${DOC}#container-and-image-names`, path: /^\S+ image \S+ RepoTags$/ },
  // The resolved image ID, pinned so a tag moved mid-deploy (or before a rollback) changes nothing.
  { doc: `${DOC}#the-image-is-pinned-by-id`, path: /^\S+ container \S+ Config\.Image$/ },
  // Compose v2's labels on containers; no compose version label anywhere (dockflow is not compose).
  { doc: `${DOC}#labels`, path: /^\S+ container \S+ Config\.Labels\.com\.docker\.compose\.(depends_on|image)$/ },
  { doc: `${DOC}#labels`, path: /^\S+ (container|network|volume) \S+ (Config\.)?Labels\.com\.docker\.compose\.version$/ },
  // An explicit `restart: "no"`: compose sends "no", dockflow no policy (its default, written out as "no").
  { doc: `${DOC}#restart-no`, path: /^\S+ container migrate#1 HostConfig\.RestartPolicy\.Name$/ },
  // Compose v2 picks the primary network by key, 1.29 by Docker name.
  { doc: `${DOC}#primary-network`, path: /^\S+ container \S+ HostConfig\.NetworkMode$/ },
  // 1.29 makes every network attachable; dockflow and compose v2 only when the file says so.
  { doc: `${DOC}#attachable-networks`, path: /^\S+ network \S+ Attachable$/ },
  // 1.29 sends its (unsupported here) volumes_from as an empty list.
  { doc: `${DOC}#volumes_from`, path: /^\S+ container \S+ HostConfig\.VolumesFrom$/ },
  // An unset bare variable (`environment: [NAME]`): 1.29 sends the name alone, dockflow leaves it out.
  { doc: `${DOC}#unset-bare-variables`, path: /^seeds container (frontend|nostream)#1 Config\.Env$/ },
  // 1.29 creates every declared network and volume (and `default`), even those no enabled service uses.
  { doc: `${DOC}#unused-networks-and-volumes`, path: /^seeds (network <project>_default|volume <project>_dassie-data)$/ },
  // com.docker.compose.network/.volume hold the key (compose v2); 1.29 writes the `name:` when one is given.
  { doc: `${DOC}#network-and-volume-labels`, path: /^\S+ (network|volume) \S+ Labels\.com\.docker\.compose\.(network|volume)$/ },
  // Pending: mounts are being reworked by the volumes change; the lead reconciles them.
  // How the mounts are asked for; what is mounted (EffectiveMounts) must agree.
  { doc: `${DOC}#pending-mounts`, path: /^\S+ container \S+ (HostConfig\.(Mounts|Binds|Tmpfs\.\S+)|Config\.Volumes(\.\S+)?)$/ },
];

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

interface Snapshot {
  containers: Record<string, Json>;
  /** Per service, the tags naming the project of the image its containers run (built images). */
  images: Record<string, Json>;
  networks: Record<string, Json>;
  volumes: Record<string, Json>;
}

interface Difference {
  where: string;
  compose: Json | undefined;
  dockflow: Json | undefined;
}

function run(cmd: string, args: string[], options: { cwd: string; env: NodeJS.ProcessEnv }): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { ...options, timeout: 240_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')} failed: ${err.message}\n${stdout}\n${stderr}`));
      else resolve(`${stdout}${stderr}`);
    });
  });
}

/** Replace every occurrence of the project name, in keys and values alike. */
function replaceProject(value: Json, project: string): Json {
  if (typeof value === 'string') return value.split(project).join('<project>');
  if (Array.isArray(value)) return value.map((v) => replaceProject(v, project));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k.split(project).join('<project>'), replaceProject(v, project)]));
  }
  return value;
}

const ANONYMOUS_VOLUME = /^[0-9a-f]{64}$/;

interface ApiMount {
  Type: string;
  Target: string;
  VolumeOptions?: { NoCopy?: boolean };
  TmpfsOptions?: { SizeBytes?: number; Mode?: number };
}

/**
 * What the container has mounted, one line per target, whichever way it was
 * asked for: a Binds string, the Mounts API (HostConfig.Mounts) or
 * HostConfig.Tmpfs. The two tools ask differently (see "Pending mounts" in
 * the doc: those raw fields are allow-listed), so this view is what must
 * agree exactly.
 */
function effectiveMounts(info: Docker.ContainerInspectInfo): string[] {
  const apiMounts = ((info.HostConfig as { Mounts?: ApiMount[] | null }).Mounts ?? []) as ApiMount[];
  const lines: string[] = [];
  for (const m of info.Mounts as unknown as { Type: string; Name?: string; Source: string; Destination: string; RW: boolean; Mode: string; Driver?: string }[]) {
    if (m.Type === 'tmpfs') continue; // listed below from the container's config, with its options
    const source = m.Type === 'volume' ? (m.Name && ANONYMOUS_VOLUME.test(m.Name) ? '<anonymous>' : m.Name) : m.Source;
    const noCopy = m.Mode.split(',').includes('nocopy') || apiMounts.some((a) => a.Target === m.Destination && a.VolumeOptions?.NoCopy === true);
    lines.push(`${m.Type} ${source} ${m.Destination} ${m.RW ? 'rw' : 'ro'}${noCopy ? ' nocopy' : ''}${m.Driver ? ` driver=${m.Driver}` : ''}`);
  }
  for (const [target, options] of Object.entries(info.HostConfig.Tmpfs ?? {})) lines.push(`tmpfs ${target} ${options}`);
  for (const a of apiMounts.filter((m) => m.Type === 'tmpfs')) {
    const options = [a.TmpfsOptions?.SizeBytes !== undefined ? `size=${a.TmpfsOptions.SizeBytes}` : '', a.TmpfsOptions?.Mode !== undefined ? `mode=${a.TmpfsOptions.Mode.toString(8)}` : ''];
    lines.push(`tmpfs ${a.Target} ${options.filter(Boolean).join(',')}`);
  }
  return lines.sort();
}

function normalizeContainer(info: Docker.ContainerInspectInfo): Json {
  const shortId = info.Id.slice(0, 12);
  const config = { ...(info.Config as unknown as Record<string, Json>) };
  if (config.Hostname === shortId) config.Hostname = '<container-id>';
  config.Env = [...((config.Env as string[] | null) ?? [])].sort();
  const labels = foreignLabels(config.Labels as Record<string, string> | null) as Record<string, string>;
  if (labels[Label.composeConfigHash] !== undefined) labels[Label.composeConfigHash] = '<hash>';
  config.Labels = labels;

  const mounts = effectiveMounts(info);

  const networks: Record<string, Json> = {};
  for (const [name, n] of Object.entries(info.NetworkSettings.Networks ?? {})) {
    const endpoint = n as unknown as Record<string, Json>;
    networks[name] = {
      // A set in compose (unordered); Docker adds the container's short ID.
      Aliases: ((endpoint.Aliases as string[] | null) ?? []).filter((a) => a !== shortId).sort(),
      IPAMConfig: endpoint.IPAMConfig ?? null,
      Links: endpoint.Links ?? null,
      DriverOpts: endpoint.DriverOpts ?? null,
    };
  }

  return {
    Name: info.Name,
    Path: info.Path,
    Args: info.Args as unknown as Json,
    Config: config,
    HostConfig: info.HostConfig as unknown as Json,
    EffectiveMounts: mounts,
    Networks: networks,
  };
}

/** Labels without dockflow's own. */
function foreignLabels(labels: Record<string, string> | null | undefined): Json {
  return Object.fromEntries(Object.entries(labels ?? {}).filter(([k]) => !k.startsWith('io.dockflow.')));
}

/** Subnets Docker picked from its pools differ from run to run; those the file fixes (under `fixedSubnet`) do not. */
function normalizeIpam(ipam: Docker.NetworkInspectInfo['IPAM'], fixedSubnet: string): Json {
  const config = (ipam?.Config ?? []).map((pool) => {
    const fixed = Object.values(pool).some((v) => typeof v === 'string' && v.startsWith(fixedSubnet));
    return fixed ? (pool as Json) : '<assigned by Docker>';
  });
  return { ...(ipam as unknown as Record<string, Json>), Config: config };
}

function normalizeNetwork(n: Docker.NetworkInspectInfo, fixedSubnet: string): Json {
  return {
    Name: n.Name,
    Driver: n.Driver,
    Scope: n.Scope,
    EnableIPv6: n.EnableIPv6,
    IPAM: normalizeIpam(n.IPAM, fixedSubnet),
    Internal: n.Internal,
    Attachable: n.Attachable,
    Ingress: n.Ingress,
    Options: (n.Options ?? {}) as Json,
    Labels: foreignLabels(n.Labels),
  };
}

function normalizeVolume(v: { Name: string; Driver: string; Options?: Record<string, string> | null; Labels?: Record<string, string> | null; Scope?: string }): Json {
  return { Name: v.Name, Driver: v.Driver, Options: (v.Options ?? null) as Json, Labels: foreignLabels(v.Labels), Scope: v.Scope ?? null };
}

/** What the project runs, keyed by service#number (one-off containers left out), networks and volumes by name. */
async function snapshot(docker: Docker, project: string, fixedSubnet: string): Promise<Snapshot> {
  const filters = { label: [`${Label.project}=${project}`] };
  const containers: Record<string, Json> = {};
  const images: Record<string, Json> = {};
  for (const c of await docker.listContainers({ all: true, filters })) {
    const info = await docker.getContainer(c.Id).inspect();
    const labels = info.Config.Labels ?? {};
    if ((labels[Label.oneoff] ?? 'False') === 'True') continue;
    containers[`${labels[Label.service]}#${labels[Label.containerNumber]}`] = replaceProject(normalizeContainer(info), project);
    // dockflow-revision/* tags keep a revision's images from pruning (the README's ledger): dockflow's own, like its labels.
    const tags = ((await docker.getImage(info.Image).inspect()).RepoTags ?? []).filter((t) => t.includes(project) && !t.startsWith('dockflow-revision/')).sort();
    if (tags.length > 0) images[labels[Label.service]] = replaceProject({ RepoTags: tags }, project);
  }
  const networks: Record<string, Json> = {};
  for (const n of await docker.listNetworks({ filters })) {
    const info = (await docker.getNetwork(n.Id).inspect()) as Docker.NetworkInspectInfo;
    networks[info.Name.split(project).join('<project>')] = replaceProject(normalizeNetwork(info, fixedSubnet), project);
  }
  const volumes: Record<string, Json> = {};
  for (const v of (await docker.listVolumes({ filters })).Volumes ?? []) {
    volumes[v.Name.split(project).join('<project>')] = replaceProject(normalizeVolume(v as never), project);
  }
  return { containers, images, networks, volumes };
}

function diffJson(where: string, a: Json | undefined, b: Json | undefined, out: Difference[]): void {
  const isObject = (v: Json | undefined): v is { [key: string]: Json } => v !== null && typeof v === 'object' && !Array.isArray(v);
  if (isObject(a) && isObject(b)) {
    for (const key of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) diffJson(`${where}.${key}`, a[key], b[key], out);
    return;
  }
  if (JSON.stringify(a) !== JSON.stringify(b)) out.push({ where, compose: a, dockflow: b });
}

function compareSnapshots(compose: Snapshot, dockflow: Snapshot, stack: string): Difference[] {
  const out: Difference[] = [];
  for (const kind of ['containers', 'images', 'networks', 'volumes'] as const) {
    const keys = [...new Set([...Object.keys(compose[kind]), ...Object.keys(dockflow[kind])])].sort();
    for (const key of keys) {
      const where = `${stack} ${kind.slice(0, -1)} ${key}`;
      const a = compose[kind][key];
      const b = dockflow[kind][key];
      if (a === undefined || b === undefined) out.push({ where, compose: a === undefined ? null : 'present', dockflow: b === undefined ? null : 'present' });
      else {
        const inner: Difference[] = [];
        diffJson('', a, b, inner);
        out.push(...inner.map((d) => ({ ...d, where: `${where} ${d.where.slice(1)}` })));
      }
    }
  }
  return out;
}

const show = (d: Difference) => `${d.where}: compose=${JSON.stringify(d.compose)} dockflow=${JSON.stringify(d.dockflow)}`;

describe('dockflow deploys what docker-compose 1.29 deploys', () => {
  let bed: TestBed;
  let stopWorker: () => Promise<void>;
  let policyDir: string;
  let previousPolicy: string | undefined;
  const variables: Record<string, string> = {};
  const projects = CORPUS.flatMap((s) => [`${COMPOSE_PREFIX}-${s.key}`, `${DOCKFLOW_PREFIX}-${s.key}`]);

  before(async () => {
    // The corpus asks for what the default policy refuses (the host's namespaces, cap_add), and binds
    // and builds from its project directories, which lie in the test projects' root (stackDir).
    previousPolicy = process.env.DOCKFLOW_POLICY_FILE;
    policyDir = fs.mkdtempSync(path.join(os.tmpdir(), 'dockflow-diff-policy-'));
    fs.writeFileSync(
      path.join(policyDir, 'policy.yml'),
      `allow:\n  cap_add: [NET_BIND_SERVICE]\n  host_namespaces: true\n  project_roots: [${JSON.stringify(TEST_PROJECTS_ROOT)}]\n`,
    );
    process.env.DOCKFLOW_POLICY_FILE = path.join(policyDir, 'policy.yml');

    bed = await startTestBed(TASK_QUEUE);
    for (const image of LOCAL_IMAGES) {
      await bed.docker
        .getImage(image)
        .inspect()
        .catch(() => {
          throw new Error(`${image} is missing: the seeds stack runs the test bed's local images; run scripts/testbed.sh images`);
        });
    }
    stopWorker = await startWorker(bed);
    for (const p of projects) await removeProject(bed.docker, p);
    await bed.docker.getNetwork(EXT_NETWORK).remove().catch(() => undefined);
    await bed.docker.getVolume(EXT_VOLUME).remove().catch(() => undefined);
    await bed.docker.createNetwork({ Name: EXT_NETWORK, Labels: { 'io.dockflow.test': 'diff' } });
    await bed.docker.createVolume({ Name: EXT_VOLUME, Labels: { 'io.dockflow.test': 'diff' } });
    Object.assign(variables, {
      WEB_PORT: String(await freePort()),
      WEB_PORT2: String(await freePort()),
      UDP_PORT: String(await freePort()),
      BRIDGE_PORT: String(await freePort()),
      DB_CONTAINER: 'diff-kitchen-db',
      SUBNET: '10.213.77',
      EXT_NETWORK,
      EXT_VOLUME,
      PASSTHROUGH: 'from-the-environment',
      FRONTEND_PORT: String(await freePort()),
      RELAY_PORT: String(await freePort()),
      CHROMA_PORT: String(await freePort()),
      NOSTREAM_CONTAINER: 'diff-seeds-nostream',
      NOSTREAM_NETWORK: 'diff-seeds-nostream-net',
      NOSTREAM_VOLUME: 'diff-seeds-nostream-db',
      IMAGE_PREFIX,
      BARE_FROM_ENV: 'passed-through',
      PROXY_PORT: String(await freePort()),
    });
  });

  after(async () => {
    if (bed) {
      for (const p of projects) await removeProject(bed.docker, p);
      await bed.docker.getNetwork(EXT_NETWORK).remove().catch(() => undefined);
      await bed.docker.getVolume(EXT_VOLUME).remove().catch(() => undefined);
      for (const p of projects) await removeImages(`${p}_`, `${p}-`, `dockflow-revision/${p}-`);
      await removeImages(`${IMAGE_PREFIX}-`);
    }
    for (const dir of [policyDir, ...tempDirs]) if (dir) fs.rmSync(dir, { recursive: true, force: true });
    await stopWorker?.();
    await bed?.teardown();
    if (previousPolicy === undefined) delete process.env.DOCKFLOW_POLICY_FILE;
    else process.env.DOCKFLOW_POLICY_FILE = previousPolicy;
  });

  /** Remove the image tags the test created (built images and dockflow's revision tags). */
  async function removeImages(...prefixes: string[]): Promise<void> {
    for (const image of await bed.docker.listImages()) {
      for (const tag of image.RepoTags ?? []) {
        if (prefixes.some((prefix) => tag.startsWith(prefix))) await bed.docker.getImage(tag).remove().catch(() => undefined);
      }
    }
  }

  /** A copy of the fixture, so bind-mount sources created by either tool stay out of the repository. */
  function stackDir(stack: CorpusStack): string {
    fs.mkdirSync(TEST_PROJECTS_ROOT, { recursive: true });
    const parent = fs.mkdtempSync(path.join(TEST_PROJECTS_ROOT, 'dockflow-diff-'));
    tempDirs.push(parent);
    const dir = path.join(parent, stack.key);
    fs.cpSync(path.join(FIXTURES, stack.key), dir, { recursive: true });
    return dir;
  }

  async function deployWithCompose(stack: CorpusStack, dir: string): Promise<Snapshot> {
    const project = `${COMPOSE_PREFIX}-${stack.key}`;
    const args = ['-p', project, ...stack.files.flatMap((f) => ['-f', path.join(dir, f)]), ...stack.profiles.flatMap((p) => ['--profile', p])];
    const env = { ...process.env, ...variables, COMPOSE_DOCKER_CLI_BUILD: '0', DOCKER_BUILDKIT: '0' };
    try {
      await run('docker-compose', [...args, 'up', '-d', '--no-color'], { cwd: dir, env });
      return await snapshot(bed.docker, project, variables.SUBNET);
    } finally {
      // Not `down`: it would wait out every stop_grace_period (PID 1 ignores SIGTERM here).
      await removeProject(bed.docker, project);
      await removeImages(`${IMAGE_PREFIX}-`);
    }
  }

  async function deployWithDockflow(stack: CorpusStack, dir: string): Promise<Snapshot> {
    const project = `${DOCKFLOW_PREFIX}-${stack.key}`;
    const { spec } = loadStack({ files: stack.files.map((f) => path.join(dir, f)), projectName: project, profiles: stack.profiles, environment: { ...variables } });
    try {
      await bed.env.client.workflow.execute('deploy', { taskQueue: TASK_QUEUE, workflowId: `it-diff-${stack.key}-${Date.now()}`, args: [{ spec }] });
      return await snapshot(bed.docker, project, variables.SUBNET);
    } finally {
      await removeProject(bed.docker, project);
      await removeImages(`${IMAGE_PREFIX}-`);
    }
  }

  const seen = new Set<Deviation>();
  const tempDirs: string[] = [];

  for (const stack of CORPUS) {
    it(`stack ${stack.key}: the same containers, networks and volumes`, async () => {
      const dir = stackDir(stack);
      let started = Date.now();
      const compose = await deployWithCompose(stack, dir);
      const composeSeconds = (Date.now() - started) / 1000;
      started = Date.now();
      const dockflow = await deployWithDockflow(stack, dir);
      console.log(`${stack.key}: docker-compose ${composeSeconds.toFixed(1)} s, dockflow ${((Date.now() - started) / 1000).toFixed(1)} s (deploy, inspect, remove)`);
      assert.ok(Object.keys(compose.containers).length > 0, 'docker-compose created containers');
      const differences = compareSnapshots(compose, dockflow, stack.key);
      const unexpected: string[] = [];
      for (const d of differences) {
        const known = KNOWN_DEVIATIONS.find((k) => k.path.test(d.where));
        if (known) seen.add(known);
        else unexpected.push(show(d));
      }
      assert.deepEqual(unexpected, [], `differences not in docs/compose-compatibility.md:\n${unexpected.join('\n')}`);
    });
  }

  it('every listed deviation still occurs (the allow-list has no stale entry)', () => {
    const stale = KNOWN_DEVIATIONS.filter((k) => !seen.has(k)).map((k) => `${k.path} (${k.doc})`);
    assert.deepEqual(stale, []);
  });
});
