/** The worker's memory settings from its environment (workers/main.ts, workers/worker.ts): unset is the SDK's and V8's default, bad values stop the worker with the variable's name. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { workflowHeapMiB, workflowSemiSpaceMiB } from '../../workers/main';
import { workflowCacheOptions } from '../../workers/worker';

describe('worker memory settings', () => {
  it('DOCKFLOW_MAX_CACHED_WORKFLOWS: a whole number (0 turns the cache off), unset leaves the default', () => {
    assert.deepEqual(workflowCacheOptions({}), {});
    assert.deepEqual(workflowCacheOptions({ DOCKFLOW_MAX_CACHED_WORKFLOWS: '32' }), { maxCachedWorkflows: 32 });
    assert.deepEqual(workflowCacheOptions({ DOCKFLOW_MAX_CACHED_WORKFLOWS: '0' }), { maxCachedWorkflows: 0 });
    for (const bad of ['-1', '2.5', 'many']) assert.throws(() => workflowCacheOptions({ DOCKFLOW_MAX_CACHED_WORKFLOWS: bad }), /DOCKFLOW_MAX_CACHED_WORKFLOWS/);
  });

  it('DOCKFLOW_WORKFLOW_HEAP_MIB: whole MiB, at least 64, unset leaves V8 alone', () => {
    assert.equal(workflowHeapMiB({}), undefined);
    assert.equal(workflowHeapMiB({ DOCKFLOW_WORKFLOW_HEAP_MIB: '256' }), 256);
    for (const bad of ['32', '1e3.5', 'big']) assert.throws(() => workflowHeapMiB({ DOCKFLOW_WORKFLOW_HEAP_MIB: bad }), /DOCKFLOW_WORKFLOW_HEAP_MIB/);
  });

  it('DOCKFLOW_WORKFLOW_SEMI_SPACE_MIB: whole MiB from 1 to 64, unset leaves V8 alone', () => {
    assert.equal(workflowSemiSpaceMiB({}), undefined);
    assert.equal(workflowSemiSpaceMiB({ DOCKFLOW_WORKFLOW_SEMI_SPACE_MIB: '' }), undefined);
    assert.equal(workflowSemiSpaceMiB({ DOCKFLOW_WORKFLOW_SEMI_SPACE_MIB: '16' }), 16);
    for (const bad of ['0', '65', '2.5', 'small']) assert.throws(() => workflowSemiSpaceMiB({ DOCKFLOW_WORKFLOW_SEMI_SPACE_MIB: bad }), /DOCKFLOW_WORKFLOW_SEMI_SPACE_MIB/);
  });
});
