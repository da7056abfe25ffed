import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { engineQuery, localSocketPath } from '../../src/engine/socket-reads';

describe('engine reads over the local socket (ps without dockerode)', () => {
  it('uses the socket dockerode would use, and leaves every other engine address to dockerode', () => {
    assert.equal(localSocketPath({}), '/var/run/docker.sock');
    assert.equal(localSocketPath({ DOCKER_HOST: 'unix:///run/user/1000/docker.sock' }), '/run/user/1000/docker.sock');
    assert.equal(localSocketPath({ DOCKER_HOST: 'tcp://10.0.0.5:2376' }), undefined);
    assert.equal(localSocketPath({ DOCKER_HOST: 'ssh://ops@build-host' }), undefined);
    assert.equal(localSocketPath({ DOCKER_TLS_VERIFY: '1' }), undefined);
    assert.equal(localSocketPath({ DOCKER_CERT_PATH: '/etc/docker/certs' }), undefined);
  });

  it('builds the query string dockerode sends: filters as JSON, plain values as they are', () => {
    assert.equal(
      engineQuery({ all: true, filters: { label: ['com.docker.compose.project=shop'] } }),
      '?all=true&filters=%7B%22label%22%3A%5B%22com.docker.compose.project%3Dshop%22%5D%7D',
    );
    assert.equal(engineQuery({ all: undefined }), '');
    assert.equal(engineQuery({}), '');
  });
});
