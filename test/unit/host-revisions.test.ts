/** Where hosts are after an operation across hosts stopped, and how ps shows each host's drift. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { describeHostRevision } from '../../src/plan/host-revisions';
import { renderStackHosts } from '../../src/cli/hosts-render';

describe('describeHostRevision', () => {
  it('a host whose services all match the new spec is on the new spec, not yet a revision', () => {
    assert.equal(
      describeHostRevision({ host: 'host-1', now: { services: ['db'], differing: [] }, then: { number: 3, services: ['db'], differing: ['db'] } }),
      'host-1: new spec (not recorded as a revision)',
    );
  });

  it('a host whose services differ from the new spec but match the previous revision is on that revision', () => {
    assert.equal(describeHostRevision({ host: 'host-3', now: { services: ['web'], differing: ['web'] }, then: { number: 3, services: ['web'], differing: [] } }), 'host-3: revision 3');
  });

  it('a host with some services new and some old is mixed, service by service', () => {
    assert.equal(
      describeHostRevision({ host: 'host-2', now: { services: ['api', 'cache'], differing: ['cache'] }, then: { number: 2, services: ['api', 'cache'], differing: ['api'] } }),
      'host-2: mixed (api new spec, cache revision 2)',
    );
  });

  it('a service matching neither is said so; without a previous revision only the new spec counts', () => {
    assert.equal(
      describeHostRevision({ host: 'host-2', now: { services: ['api', 'cache'], differing: ['cache'] } }),
      'host-2: mixed (api new spec, cache neither the new spec nor the previous revision)',
    );
  });

  it('a service that moved away from the host counts from the previous revision too', () => {
    assert.equal(describeHostRevision({ host: 'host-1', now: { services: [], differing: [] }, then: { number: 4, services: ['db'], differing: [] } }), 'host-1: revision 4');
    assert.equal(describeHostRevision({ host: 'host-9', now: { services: [], differing: [] } }), 'host-9: nothing of the project');
  });
});

describe('renderStackHosts', () => {
  it('shows each host in sync, drifted with its reasons, or not answering', () => {
    assert.deepEqual(
      renderStackHosts({
        project: 'shop',
        revision: 4,
        hosts: [
          { host: 'host-1', ledgerRevision: 4, drift: [] },
          { host: 'host-2', unreachable: true, drift: ['did not answer'] },
          { host: 'host-3', ledgerRevision: 3, drift: ['its ledger is at revision 3, the stack at 4', 'service web: x'] },
        ],
      }),
      [
        '  hosts (stack at revision 4):',
        '    host-1: revision 4, in sync',
        '    host-2: not answering',
        '    host-3: drifted (its ledger is at revision 3, the stack at 4; service web: x); the next operation converges it',
      ],
    );
  });
});
