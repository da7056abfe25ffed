/**
 * Histories replay by activity name: a worker that no longer registers a name
 * some recorded history scheduled cannot finish a workflow that was running
 * when it was deployed. Moving activities between modules must keep every
 * name; this test reads the names from the recorded histories themselves.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import Docker from 'dockerode';
import { createActivities } from '../../activities';

const HISTORIES = path.resolve(__dirname, '..', 'histories');

function historyFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return historyFiles(full);
    return entry.name.endsWith('.json') ? [full] : [];
  });
}

interface RecordedEvent {
  activityTaskScheduledEventAttributes?: { activityType: { name: string } };
  markerRecordedEventAttributes?: { markerName: string; details?: { data?: { payloads?: { data: string }[] } } };
}

/** Activity types scheduled in a history, remote and local (a local one is a marker whose data names its type). */
function scheduledActivityTypes(file: string): string[] {
  const { events } = JSON.parse(fs.readFileSync(file, 'utf8')) as { events: RecordedEvent[] };
  const names: string[] = [];
  for (const event of events) {
    const scheduled = event.activityTaskScheduledEventAttributes;
    if (scheduled) names.push(scheduled.activityType.name);
    const marker = event.markerRecordedEventAttributes;
    if (marker?.markerName === 'core_local_activity') {
      for (const payload of marker.details?.data?.payloads ?? []) {
        const data = JSON.parse(Buffer.from(payload.data, 'base64').toString('utf8')) as { activity_type?: string };
        if (data.activity_type) names.push(data.activity_type);
      }
    }
  }
  return names;
}

describe('registered activity names', () => {
  it('covers every activity type a recorded history scheduled', () => {
    // No request is made: dockerode connects on the first call only.
    const registered = new Set(Object.keys(createActivities({ docker: new Docker() })));
    const recorded = new Set(historyFiles(HISTORIES).flatMap(scheduledActivityTypes));
    assert.ok(recorded.size > 20, `expected the histories to schedule many activity types, found ${recorded.size}`);
    const missing = [...recorded].filter((name) => !registered.has(name)).sort();
    assert.deepEqual(missing, [], `recorded histories schedule activities the worker no longer registers: ${missing.join(', ')}`);
  });

  it('registers the Docker activities under their historical names', () => {
    const registered = Object.keys(createActivities({ docker: new Docker() }));
    for (const name of [
      'ensureImage', 'ensureImages', 'imageExists', 'observeProject', 'verifyProject', 'ensureNetworksAndVolumes', 'downProject',
      'convergeContainer', 'restartContainer', 'removeContainer', 'nudgeService', 'waitHealthy', 'waitCompleted', 'checkContainer',
      'startReplacement', 'promoteReplacement', 'swapNames',
    ]) {
      assert.ok(registered.includes(name), `activity ${name} is not registered`);
    }
  });
});
