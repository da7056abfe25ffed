import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { activitySummary } from '../../src/model/activity-summary';

const spec = {
  project: 'shop',
  services: { web: { image: 'shop-web:2' }, db: { image: 'postgres:16', containerName: 'shop-database' } },
};

describe('activity summaries', () => {
  it('names the container an activity acts on, by its deterministic name', () => {
    assert.equal(activitySummary('convergeContainer', [{ spec, service: 'web', number: 2, action: 'recreate' }]), 'recreate shop-web-2');
    assert.equal(activitySummary('convergeContainer', [{ spec, service: 'db', number: 1, action: 'create' }]), 'create shop-database');
    assert.equal(activitySummary('waitHealthy', [{ service: 'db', name: 'shop-db-1', budgetMs: 1000 }]), 'wait healthy shop-db-1');
  });

  it('names every step of a batched activity: the containers one dependency level converges or waits for', () => {
    assert.equal(
      activitySummary('convergeContainers', [[{ spec, service: 'web', number: 1, action: 'create' }, { spec, service: 'db', number: 1, action: 'start', waitHealthyMs: 5000 }]]),
      'create shop-web-1, start shop-database and wait healthy',
    );
    assert.equal(
      activitySummary('waitContainers', [[{ kind: 'healthy', service: 'db', name: 'shop-db-1', budgetMs: 1 }, { kind: 'completed', service: 'job', name: 'shop-job-1', budgetMs: 1 }]]),
      'wait healthy shop-db-1, wait for shop-job-1 to exit 0',
    );
  });

  it('lists images, shortening long lists', () => {
    assert.equal(activitySummary('ensureImages', [{ spec, services: ['db', 'web'] }]), 'pull or build postgres:16, shop-web:2');
    const many = { project: 'p', services: Object.fromEntries(Array.from({ length: 6 }, (_, i) => [`s${i}`, { image: `img${i}` }])) };
    assert.equal(activitySummary('ensureImages', [{ spec: many, services: Object.keys(many.services) }]), 'pull or build img0, img1, img2, img3 and 2 more');
  });

  it('reads plain-string inputs and falls back to the activity type for unknown ones', () => {
    assert.equal(activitySummary('observeProject', ['shop']), 'observe project shop');
    assert.equal(activitySummary('somethingNew', [{}]), 'somethingNew');
    // A malformed input never breaks the workflow: the type is the summary.
    assert.equal(activitySummary('archiveTarget', [null]), 'archive data');
  });

  it('keeps a summary to one line of at most 120 characters', () => {
    const s = activitySummary('runHook', [{ container: 'shop-db-1', hook: { command: ['sh', '-c', `pg_dump\n${'x'.repeat(300)}`] } }]);
    assert.ok(!s.includes('\n'));
    assert.equal(s.length, 120);
    assert.ok(s.endsWith('…'));
  });
});
