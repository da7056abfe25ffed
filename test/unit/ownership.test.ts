/** Ownership claims and the refusal message, asserted as data. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { describeForeignResources, isOwnedBy, resourceClaims } from '../../src/plan/ownership';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadStack } from '../../src/compose';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dockflow-ownership-'));
fs.writeFileSync(
  path.join(dir, 'docker-compose.yml'),
  `
name: pixel
services:
  db:
    image: postgres:16
    container_name: pixel-db
    volumes: [data:/var/lib/postgresql/data, shared:/shared]
  web:
    image: nginx
    deploy: {replicas: 2}
    networks: [default, edge]
networks:
  edge: {external: true, name: proxy_edge}
volumes:
  data: {}
  shared: {external: true, name: common_shared}
`,
);

describe('ownership', () => {
  const { spec } = loadStack({ files: [`${dir}/docker-compose.yml`], environment: {} });

  it('claims every container name, and the project\'s own networks and volumes (never external ones)', () => {
    assert.deepEqual(resourceClaims(spec), {
      containers: [
        { name: 'pixel-db', key: 'services.db.container_name' },
        { name: 'pixel-web-1', key: 'services.web' },
        { name: 'pixel-web-2', key: 'services.web' },
      ],
      networks: [{ name: 'pixel_default', key: 'networks.default' }],
      volumes: [{ name: 'pixel_data', key: 'volumes.data' }],
    });
  });

  it('owns what carries the project\'s compose label, whoever created it', () => {
    assert.equal(isOwnedBy('pixel', { 'com.docker.compose.project': 'pixel', 'com.docker.compose.version': '1.29.2' }), true);
    assert.equal(isOwnedBy('pixel', { 'com.docker.compose.project': 'shop' }), false);
    assert.equal(isOwnedBy('pixel', {}), false);
    assert.equal(isOwnedBy('pixel', undefined), false);
  });

  it('names each foreign resource, its owner and what to do', () => {
    assert.equal(
      describeForeignResources('pixel', [
        { kind: 'container', name: 'pixel-db', key: 'services.db.container_name', owner: 'shop' },
        { kind: 'container', name: 'pixel-web-1', key: 'services.web' },
        { kind: 'network', name: 'pixel_default', key: 'networks.default', owner: 'blog' },
        { kind: 'volume', name: 'pixel_data', key: 'volumes.data' },
      ]),
      [
        'project pixel cannot use resources it does not own; nothing was changed:',
        'container name pixel-db is used by project shop (services.db.container_name); remove or rename that container, or choose another container_name',
        'container name pixel-web-1 is used by a container not managed by compose/dockflow (services.web); remove or rename that container, or choose another container_name',
        'network pixel_default is used by project blog (networks.default); declare it external: true to share it, or give this one another name',
        'volume pixel_data is used by a volume not managed by compose/dockflow (volumes.data); declare it external: true to share it, or give this one another name',
      ].join('\n'),
    );
  });
});
