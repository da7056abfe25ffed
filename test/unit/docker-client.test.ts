/**
 * The worker's Docker client opens a connection per request. A daemon that
 * is shutting down still serves connections it had accepted, so a client
 * that kept one open would go on deploying against it (workers/docker-client.ts;
 * test/chaos/daemon-shutdown.test.ts shows it on a real daemon).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { inspect } from 'node:util';
import { createDockerClient } from '../../workers/docker-client';

describe('the Docker client of a worker', () => {
  let server: http.Server;
  let socketPath: string;
  let connections = 0;

  before(async () => {
    socketPath = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'dockflow-client-')), 'engine.sock');
    // Answers like an engine that would gladly keep every connection open.
    server = http.createServer({ keepAlive: true }, (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/plain', Connection: 'keep-alive' });
      res.end('OK');
    });
    server.on('connection', () => (connections += 1));
    await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  });

  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    fs.rmSync(path.dirname(socketPath), { recursive: true, force: true });
  });

  it('opens a new connection for every request, so none outlives the daemon listening when it was opened', async () => {
    const docker = createDockerClient({ socketPath });
    const before = connections;
    for (let i = 0; i < 3; i++) {
      await docker.ping();
      // A reused socket would be handed out on the next tick; give it the chance.
      await new Promise((r) => setImmediate(r));
    }
    assert.equal(connections - before, 3);
  });

  it('formats its agent in a few words: docker-modem inspects every request\'s options in full, whatever its log level', async () => {
    const docker = createDockerClient({ socketPath });
    await docker.ping();
    const agent = (docker.modem as unknown as { agent: object }).agent;
    assert.ok(agent, 'the client has its own agent');
    assert.equal(inspect({ agent }, { showHidden: true, depth: null }), '{ agent: Agent { keepAlive: false } }');
  });
});
