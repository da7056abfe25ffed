/**
 * Every recorded history (test/histories/*.json, real runs recorded by
 * test/histories/record.ts, and the histories of earlier workflow versions
 * kept in its subfolders, e.g. before-search-attributes/) must replay against
 * the current workflow code.
 * A change that would make running workflows non-deterministic fails here,
 * before it reaches a worker with workflows in flight.
 *
 * The operations across hosts (test/histories/hosts-*.json, recorded by
 * test/histories/record-hosts.ts on two simulated hosts) replay with the
 * rest; the patches only a run across hosts takes must be in them, or no
 * history proves those paths replay.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Worker } from '@temporalio/worker';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { workflowBundlePath } from '../support/harness';

const DIR = path.resolve(__dirname, '..', 'histories');

/** Patches no single-host run takes: a recorded history across hosts must hold each one's marker. */
const HOST_PATCHES = ['dockflow-host-liveness', 'dockflow-host-liveness-every-operation', 'dockflow-spread-data', 'dockflow-spread-replicas'];

/** The patch IDs whose markers a history (the Temporal CLI's JSON export) holds. */
function patchesOf(history: { events: { markerRecordedEventAttributes?: { markerName?: string; details?: Record<string, { payloads?: { data?: string }[] }> } }[] }): string[] {
  return history.events.flatMap((e) => {
    const marker = e.markerRecordedEventAttributes;
    if (marker?.markerName !== 'core_patch') return [];
    const data = marker.details?.['patch-data']?.payloads?.[0]?.data;
    return data ? [(JSON.parse(Buffer.from(data, 'base64').toString('utf8')) as { id: string }).id] : [];
  });
}

describe('workflow replay', () => {
  // Top level: the current recording; subfolders: recordings of earlier workflow code, kept for compatibility.
  const files = fs
    .readdirSync(DIR, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.json'))
    .sort();
  const current = files.filter((f) => !f.includes(path.sep));

  it('has recorded histories of every workflow type', () => {
    const types = new Set(
      current.map((f) => {
        const history = JSON.parse(fs.readFileSync(path.join(DIR, f), 'utf8'));
        return history.events[0].workflowExecutionStartedEventAttributes.workflowType.name as string;
      }),
    );
    assert.deepEqual([...types].sort(), ['backup', 'backups', 'deploy', 'down', 'history', 'migrate', 'notifyOperation', 'restore', 'rollback', 'update']);
  });

  it('has recorded histories across hosts that take every patch only such runs take', () => {
    const acrossHosts = current.filter((f) => f.startsWith('hosts-'));
    const histories = acrossHosts.map((f) => JSON.parse(fs.readFileSync(path.join(DIR, f), 'utf8')));
    const types = new Set(histories.map((h) => h.events[0].workflowExecutionStartedEventAttributes.workflowType.name as string));
    assert.deepEqual([...types].sort(), ['backup', 'deploy', 'down', 'rollback', 'update'], acrossHosts.join(', '));
    const taken = new Set(histories.flatMap(patchesOf));
    assert.deepEqual(HOST_PATCHES.filter((p) => !taken.has(p)), [], `patches taken across hosts: ${[...taken].sort().join(', ')}`);
  });

  it('replays every history deterministically', async () => {
    const codePath = await workflowBundlePath();
    // The recorded run's own workflow ID where the history carries it: IDs derived from it (a notification's
    // child workflow) must come out as they did; older exports without it replay under their file name.
    const histories = files.map((f) => {
      const json = JSON.parse(fs.readFileSync(path.join(DIR, f), 'utf8'));
      const recordedId: unknown = json.events?.[0]?.workflowExecutionStartedEventAttributes?.workflowId;
      return { workflowId: typeof recordedId === 'string' && recordedId ? recordedId : f.replace(/\.json$/, ''), history: historyFromJSON(json) };
    });
    const failures: string[] = [];
    for await (const result of Worker.runReplayHistories({ workflowBundle: { codePath } }, histories)) {
      if (result.error) failures.push(`${result.workflowId}: ${result.error.message}`);
    }
    assert.deepEqual(failures, []);
    assert.ok(current.length >= 10 && histories.length > current.length, `${current.length} current and ${histories.length - current.length} earlier histories`);
  });
});
