/**
 * One line per activity for the Temporal UI's timeline ("start shop-web-2",
 * "wait healthy shop-db-1", "archive volume shop_pgdata"), derived from the
 * activity's type and input. Pure and deterministic: it runs inside workflow
 * code (workflows/interceptors.ts) and must not look at anything else.
 */
import { containerName } from './container-name';
import type { StackSpec } from './spec';

type Input = Record<string, unknown> & {
  spec?: StackSpec;
  service?: string;
  services?: string[];
  number?: number;
  name?: string;
  project?: string;
  action?: string;
};

const MAX = 120;

function canonical(input: Input): string | undefined {
  if (!input.spec || !input.service || typeof input.number !== 'number') return input.name;
  const service = input.spec.services?.[input.service];
  return service ? containerName(input.spec.project, { name: input.service, containerName: service.containerName }, input.number) : input.name;
}

function image(input: Input): string {
  const service = input.service ? input.spec?.services?.[input.service] : undefined;
  return service?.image ?? (service?.build ? `build ${input.service}` : input.service ?? '');
}

function names(list: unknown): string {
  if (!Array.isArray(list)) return '';
  const items = list.map((c) => (typeof c === 'string' ? c : (c as { name?: string }).name ?? '?'));
  return items.length > 4 ? `${items.slice(0, 4).join(', ')} and ${items.length - 4} more` : items.join(', ');
}

function items(list: unknown): Input[] {
  return Array.isArray(list) ? list.filter((c): c is Input => typeof c === 'object' && c !== null) : [];
}

function joined(steps: string[]): string {
  return steps.length > 4 ? `${steps.slice(0, 4).join(', ')} and ${steps.length - 4} more` : steps.join(', ');
}

const SUMMARIES: Record<string, (input: Input, raw: unknown[]) => string> = {
  loadProject: (i) => `load ${(i.composeFiles as string[] | undefined)?.join(', ') ?? 'compose files'}`,
  checkPolicy: (i) => `check worker policy for ${i.project ?? 'the stack'}`,
  observeProject: (_i, raw) => `observe project ${String(raw[0])}`,
  observeDataContainers: (_i, raw) => `observe data containers of ${String(raw[0])}`,
  ensureImage: (i) => `image for ${i.service}: ${image(i)}`,
  ensureImages: (i) => {
    const services = i.services ?? [];
    const refs = services.map((s) => i.spec?.services?.[s]?.image ?? `build ${s}`);
    return `pull or build ${refs.length > 4 ? `${refs.slice(0, 4).join(', ')} and ${refs.length - 4} more` : refs.join(', ') || 'nothing'}`;
  },
  ensureNetworksAndVolumes: (i) => `networks and volumes of ${i.project ?? i.spec?.project ?? 'the project'}`,
  convergeContainer: (i) => `${i.action ?? 'converge'} ${canonical(i)}`,
  // A batch: the steps of one dependency level in one activity (workflows/round-trips.ts).
  convergeContainers: (_i, raw) => joined(items(raw[0]).map((c) => `${c.action ?? 'converge'} ${canonical(c)}${typeof c.waitHealthyMs === 'number' ? ' and wait healthy' : ''}`)),
  waitContainers: (_i, raw) => joined(items(raw[0]).map((c) => (c.kind === 'completed' ? `wait for ${c.name} to exit 0` : `wait healthy ${c.name}`))),
  startReplacement: (i) => `start replacement for ${canonical(i)}`,
  promoteReplacement: (i) => `promote replacement of ${canonical(i)}`,
  swapNames: (i) => `rename replacement to ${canonical(i)}`,
  restartContainer: (i) => `restart ${i.name}`,
  removeContainer: (i) => `remove ${i.name}`,
  waitHealthy: (i) => `wait healthy ${i.name}`,
  waitCompleted: (i) => `wait for ${i.name} to exit 0`,
  checkContainer: (i) => `check ${i.name} stays up`,
  nudgeService: (i) => `${i.restart ? 'restart' : 'signal'} ${i.project}-${i.service}`,
  imageExists: (_i, raw) => `look up image ${String(raw[0]).slice(0, 19)}`,
  downProject: (i) => `remove project ${i.project}${i.volumes ? ' with volumes' : ''}`,
  recordRevision: (i) => `record ${i.operation} revision of ${i.project}`,
  listRevisions: (_i, raw) => `list revisions of ${String(raw[0])}`,
  getRevision: (i) => `read revision ${i.number ?? '(current)'} of ${i.project}`,
  linkToRevision: (i) => `link ${i.kind} ${i.id} to revision ${i.number}`,
  describeLock: (_i, raw) => `who holds ${String(raw[0])}`,
  describeHost: () => 'describe the Docker host',
  stopContainers: (i) => `stop ${names(i.containers)}`,
  startContainers: (i) => `start ${names(i.containers)}`,
  runHook: (i) => `hook in ${i.container}: ${((i.hook as { command?: string[] } | undefined)?.command ?? []).join(' ')}`,
  archiveTarget: (i) => {
    const t = i.target as { kind?: string; source?: string } | undefined;
    return `archive ${t?.kind ?? 'data'} ${t?.source ?? ''}`;
  },
  verifyArchives: (i) => `verify ${(i.archives as unknown[] | undefined)?.length ?? 0} archive(s) of ${i.backupId}`,
  commitManifest: (i) => `commit manifest of ${(i.manifest as { id?: string } | undefined)?.id ?? 'backup'}`,
  discardIncompleteBackup: (i) => `discard incomplete backup ${i.backupId}`,
  listBackups: (i) => `list backups of ${i.project}`,
  readBackup: (i) => `read backup ${i.backupId}`,
  deleteBackups: (i) => `prune ${names(i.backupIds)}`,
  restoreTarget: (i) => {
    const e = i.entry as { kind?: string; source?: string; key?: string } | undefined;
    return `restore ${e?.kind ?? 'data'} ${e?.source ?? e?.key ?? ''} from ${i.backupId}`;
  },
  removeHelpers: (i) => `remove helper containers of ${i.operation}`,
  startOneOff: (i) =>
    i.kind === 'pre_deploy' || i.kind === 'post_deploy'
      ? `${i.kind} hook of ${i.service} in ${i.name}: ${((i.command as string[] | undefined) ?? []).join(' ')}`
      : `run ${i.name}: ${((i.command as string[] | undefined) ?? []).join(' ')}`,
  waitOneOff: (i) => `wait for ${i.name} to finish`,
  stopOneOff: (i) => `stop ${i.name}`,
};

/** The summary of one activity call; the activity type when nothing better is known. */
export function activitySummary(activityType: string, args: unknown[]): string {
  const first = args[0];
  const input: Input = typeof first === 'object' && first !== null ? (first as Input) : {};
  let text: string;
  try {
    text = SUMMARIES[activityType]?.(input, args) ?? activityType;
  } catch {
    text = activityType;
  }
  text = text.replace(/\s+/g, ' ').trim() || activityType;
  return text.length > MAX ? `${text.slice(0, MAX - 1)}…` : text;
}
