/**
 * The revision ledger, kept on the Docker host in a state directory the worker
 * owns (DOCKFLOW_STATE_DIR), so it survives worker restarts, Temporal's
 * retention and the loss of Temporal's database:
 *
 *   <stateDir>/projects/<project>/revisions/<number>.json
 *
 * Files are written to a temporary name and renamed, so a crash never leaves
 * a half-written revision; only the worker's user can read them (0600 files,
 * 0700 directories: they hold secrets). Recording is idempotent per workflow ID.
 */
import type Docker from 'dockerode';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Revision, revisionImageTag, type RevisionOperation } from '../src/model/revision';
import type { StackSpec } from '../src/model/spec';
import { statusOf } from './docker';
import { ensurePrivateDir, writePrivateFile } from '../src/files/private';
import { ApplicationFailure } from '@temporalio/common';
import { PROJECT_NAME_RULE, isProjectName } from '../src/model/names';
import { ErrorType } from '../src/errors';

export interface LedgerDeps {
  docker: Docker;
  /** Default: DOCKFLOW_STATE_DIR, else /var/lib/dockflow for root, else ~/.local/state/dockflow. */
  stateDir?: string;
  /** Revisions kept per project. Default DOCKFLOW_KEEP_REVISIONS or 10. */
  keep?: number;
}

export function defaultStateDir(env: Record<string, string | undefined> = process.env): string {
  if (env.DOCKFLOW_STATE_DIR) return env.DOCKFLOW_STATE_DIR;
  return process.getuid?.() === 0 ? '/var/lib/dockflow' : path.join(os.homedir(), '.local', 'state', 'dockflow');
}

export interface RecordRevisionInput {
  project: string;
  operation: RevisionOperation;
  workflowId: string;
  spec: StackSpec;
  imageIds: Record<string, string>;
  changed: string[];
  restoredFrom?: number;
  /** Across hosts: the host of every service (kept in the revision). */
  placement?: Record<string, string>;
  /** Across hosts: the hosts each spread service's replicas spread over (kept in the revision). */
  spread?: Record<string, string[]>;
  /** Across hosts: the stack's revision number, the same on every host (default: this ledger's last + 1). */
  number?: number;
  /** Across hosts: the services whose images are on this host, the only ones tagged here (default: all). */
  tagServices?: string[];
}

export function createLedgerActivities({ docker, stateDir = defaultStateDir(), keep = Number(process.env.DOCKFLOW_KEEP_REVISIONS) || 10 }: LedgerDeps) {
  /**
   * The one place a ledger path is built from a project name. Workflows validate
   * names first; checked again here because activities can be called with
   * inputs no workflow validated, and "x/../other" would be another project's folder.
   */
  const dirOf = (project: string) => {
    if (!isProjectName(project)) {
      throw ApplicationFailure.nonRetryable(`ledger: ${JSON.stringify(project)} is not a valid project name: ${PROJECT_NAME_RULE}`, ErrorType.invalidSpec);
    }
    return path.join(stateDir, 'projects', project, 'revisions');
  };

  function readAll(project: string): Revision[] {
    const dir = dirOf(project);
    if (!fs.existsSync(dir)) return [];
    return fs
      .readdirSync(dir)
      .filter((f) => /^\d+\.json$/.test(f))
      .map((f) => {
        const revision = Revision.parse(JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')));
        // A revision acts on the project its spec names: one filed under another project (a copied
        // or edited file) would let an operation on this project change that one, outside its lock.
        if (revision.project !== project || revision.spec.project !== project) {
          throw ApplicationFailure.nonRetryable(
            `ledger file ${path.join(dir, f)} records project ${JSON.stringify(revision.project !== project ? revision.project : revision.spec.project)}, not ${project}: move it back to its project's folder`,
            ErrorType.invalidSpec,
          );
        }
        return revision;
      })
      .sort((a, b) => a.number - b.number);
  }

  function write(revision: Revision): void {
    // A revision holds the whole spec, environment values included: 0600 in 0700 directories.
    const dir = ensurePrivateDir(dirOf(revision.project), stateDir);
    const file = path.join(dir, `${String(revision.number).padStart(6, '0')}.json`);
    writePrivateFile(file, `${JSON.stringify(revision, null, 2)}\n`);
  }

  async function tagImages(revision: Revision, services?: string[]): Promise<void> {
    // One tag per service, side by side: one after another they took 0.4 s for 50 services.
    await Promise.all(
      Object.entries(revision.images).filter(([service]) => services === undefined || services.includes(service)).map(async ([service, image]) => {
        const { repo, tag } = revisionImageTag(revision.project, service, revision.number);
        await docker.getImage(image.id).tag({ repo, tag });
      }),
    );
  }

  async function untagImages(revision: Revision): Promise<void> {
    for (const service of Object.keys(revision.images)) {
      const { repo, tag } = revisionImageTag(revision.project, service, revision.number);
      try {
        // noprune: only the tag goes; an image still used elsewhere stays.
        await docker.getImage(`${repo}:${tag}`).remove({ noprune: true });
      } catch (err) {
        if (statusOf(err) !== 404 && statusOf(err) !== 409) throw err;
      }
    }
  }

  return {
    /** Record a successful change; a retry (same workflow) returns the revision already written. */
    async recordRevision(input: RecordRevisionInput): Promise<Revision> {
      const existing = readAll(input.project);
      const already = existing.find((r) => r.workflowId === input.workflowId);
      if (already) {
        await tagImages(already, input.tagServices);
        return already;
      }
      const images = Object.fromEntries(
        Object.entries(input.imageIds).map(([service, id]) => [service, { ref: input.spec.services[service]?.image ?? id, id }]),
      );
      const revision: Revision = Revision.parse({
        project: input.project,
        number: input.number ?? (existing.at(-1)?.number ?? 0) + 1,
        createdAt: new Date().toISOString(),
        operation: input.operation,
        workflowId: input.workflowId,
        spec: input.spec,
        images,
        changed: input.changed,
        ...(input.restoredFrom !== undefined ? { restoredFrom: input.restoredFrom } : {}),
        ...(input.placement !== undefined ? { placement: input.placement } : {}),
        ...(input.spread !== undefined ? { spread: input.spread } : {}),
        links: { backups: [], migrations: [] },
      });
      // Tag first: a revision on disk must never point at an unprotected image.
      await tagImages(revision, input.tagServices);
      write(revision);
      const all = [...existing, revision];
      for (const old of all.slice(0, Math.max(0, all.length - keep))) {
        await untagImages(old);
        fs.rmSync(path.join(dirOf(old.project), `${String(old.number).padStart(6, '0')}.json`), { force: true });
      }
      return revision;
    },

    async listRevisions(project: string): Promise<Revision[]> {
      return readAll(project);
    },

    /** A revision by number, or the latest when number is absent. */
    async getRevision(input: { project: string; number?: number }): Promise<Revision | undefined> {
      const all = readAll(input.project);
      return input.number === undefined ? all.at(-1) : all.find((r) => r.number === input.number);
    },

    /** Attach a backup or migration ID to a revision (idempotent). */
    async linkToRevision(input: { project: string; number: number; kind: 'backups' | 'migrations'; id: string }): Promise<void> {
      const revision = readAll(input.project).find((r) => r.number === input.number);
      if (!revision || revision.links[input.kind].includes(input.id)) return;
      revision.links[input.kind].push(input.id);
      write(revision);
    },
  };
}

export type LedgerActivities = ReturnType<typeof createLedgerActivities>;
