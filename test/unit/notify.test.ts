/**
 * Notifications: DOCKFLOW_NOTIFY parsing (strict, secrets never in messages),
 * filters, and the exact bodies, headers and signatures each target gets.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { NotifyConfigError, parseNotifyTargets, targetWants, type NotifyConfigIo } from '../../src/notify/targets';
import { commandEnv, discordBody, httpMessage, idempotencyKey, notificationBody, signBody, slackBody, verifySignature } from '../../src/notify/message';
import { eventHeadline, isNotifyOperation, resultFacts, type NotificationEvent } from '../../src/notify/event';
import { createNotifyActivities, isRetryableStatus } from '../../activities/notify';

const SECRET = 'a-shared-secret-of-32-characters';
const files: Record<string, string> = { '/run/secrets/hook': 'file-secret-0123456789\n', '/run/secrets/short': 'short\n', '/run/secrets/empty': '' };
const executables = new Set(['/usr/local/bin/on-event']);
const io: NotifyConfigIo = {
  readFile: (file) => {
    if (!(file in files)) throw Object.assign(new Error(`ENOENT: ${file}`), { code: 'ENOENT' });
    return files[file];
  },
  checkExecutable: (file) => {
    if (!executables.has(file)) throw new Error('ENOENT');
  },
};
const parse = (value: string, env: Record<string, string> = { DOCKFLOW_NOTIFY_SECRET: SECRET }) => parseNotifyTargets({ ...env, DOCKFLOW_NOTIFY: value }, io);

function parseError(value: string, env?: Record<string, string>): string {
  try {
    parse(value, env);
  } catch (err) {
    assert.ok(err instanceof NotifyConfigError, `expected a NotifyConfigError, got ${err}`);
    return err.message;
  }
  assert.fail(`expected ${JSON.stringify(value)} to be refused`);
}

const event: NotificationEvent = {
  version: 1,
  event: 'failed',
  operation: 'deploy',
  project: 'shop',
  workflowId: 'dockflow-deploy-shop',
  runId: '3f1c9c1e-0000-4000-8000-000000000001',
  taskQueue: 'dockflow',
  startedAt: '2026-11-30T10:00:00.000Z',
  finishedAt: '2026-11-30T10:01:00.000Z',
  error: { message: 'service web: container shop-web-1 is unhealthy', type: 'ServiceUnhealthy' },
};

describe('DOCKFLOW_NOTIFY parsing', () => {
  it('reads every kind of target with its options; empty means none', () => {
    assert.deepEqual(parse(''), []);
    assert.deepEqual(parse('   \n '), []);
    const [webhook, slack, discord, command] = parse(
      [
        'https://hooks.example.com/dockflow?team=ops#events=failed,cancelled&operations=deploy,rollback&projects=shop,blog&timeout=10',
        'slack+https://hooks.slack.com/services/T0/B0/XXXX',
        'discord+https://discord.com/api/webhooks/1/tok#events=failed',
        'cmd:///usr/local/bin/on-event',
      ].join(' \n\t'),
    );
    assert.equal(webhook.kind, 'webhook');
    // The fragment (dockflow's options) is never sent; the receiver's own query is kept.
    assert.equal(webhook.url, 'https://hooks.example.com/dockflow?team=ops');
    assert.equal(webhook.secret, SECRET);
    assert.deepEqual(webhook.events, ['failed', 'cancelled']);
    assert.deepEqual(webhook.operations, ['deploy', 'rollback']);
    assert.deepEqual(webhook.projects, ['shop', 'blog']);
    assert.equal(webhook.timeoutMs, 10_000);
    assert.equal(webhook.label, 'webhook https://hooks.example.com (#1)');
    assert.equal(slack.kind, 'slack');
    assert.equal(slack.url, 'https://hooks.slack.com/services/T0/B0/XXXX');
    assert.equal(slack.secret, undefined);
    assert.deepEqual(slack.events, ['completed', 'failed', 'cancelled']);
    assert.equal(slack.timeoutMs, 30_000);
    assert.equal(discord.kind, 'discord');
    assert.deepEqual(discord.events, ['failed']);
    assert.equal(command.kind, 'command');
    assert.equal(command.command, '/usr/local/bin/on-event');
    assert.equal(command.label, 'command /usr/local/bin/on-event (#4)');
    // IDs: stable for the same text, distinct per target.
    assert.equal(new Set([webhook.id, slack.id, discord.id, command.id]).size, 4);
    assert.equal(parse('slack+https://hooks.slack.com/services/T0/B0/XXXX')[0].id, slack.id);
  });

  it('takes a per-target secret from secret_file (without its trailing newline) over DOCKFLOW_NOTIFY_SECRET', () => {
    const [target] = parse('https://h.example/x#secret_file=/run/secrets/hook', {});
    assert.equal(target.secret, 'file-secret-0123456789');
  });

  const refusals: [string, string, RegExp, Record<string, string>?][] = [
    ['an unknown scheme', 'ftp://h.example/x', /target 1 \(ftp:\): unknown scheme "ftp:"/],
    ['no scheme', 'hooks.example.com/x', /target 1 \(no scheme\): is not a URL/],
    ['an unknown option', 'https://h.example/x#evnts=failed', /target 1 \(webhook https:\/\/h\.example\): unknown option "evnts" \(options: events, operations, projects, secret_file, timeout\)/],
    ['an unknown event', 'https://h.example/x#events=failed,done', /events: "done" is not one of completed, failed, cancelled/],
    ['an unknown operation', 'https://h.example/x#operations=deploy,upgrade', /operations: "upgrade" is not one of deploy, update/],
    ['a bad project name', 'https://h.example/x#projects=Shop!', /projects: "Shop!" is not a valid project name/],
    ['an option twice', 'https://h.example/x#events=failed&events=completed', /option "events" is given twice/],
    ['an empty option', 'https://h.example/x#events=', /option "events" is empty/],
    ['an option without a value', 'https://h.example/x#events', /option "events" is not name=value/],
    ['a timeout out of range', 'https://h.example/x#timeout=0', /timeout: "0" must be whole seconds from 1 to 300/],
    ['a fractional timeout', 'https://h.example/x#timeout=1.5', /timeout: "1.5"/],
    ['a webhook without a secret', 'https://h.example/x', /needs a shared secret for its signature: set DOCKFLOW_NOTIFY_SECRET or add #secret_file=/, {}],
    ['a short secret', 'https://h.example/x', /DOCKFLOW_NOTIFY_SECRET\) must have at least 16 characters/, { DOCKFLOW_NOTIFY_SECRET: 'short' }],
    ['a short secret file', 'https://h.example/x#secret_file=/run/secrets/short', /\(secret_file\) must have at least 16 characters/],
    ['an empty secret file', 'https://h.example/x#secret_file=/run/secrets/empty', /secret_file \/run\/secrets\/empty is empty/],
    ['a missing secret file', 'https://h.example/x#secret_file=/run/secrets/none', /secret_file \/run\/secrets\/none cannot be read \(ENOENT\)/],
    ['a relative secret file', 'https://h.example/x#secret_file=secret', /secret_file: "secret" must be an absolute path/],
    ['credentials in the URL', 'https://user:pw@h.example/x', /credentials in the URL are not supported/],
    ['a Slack URL over plain http to another host', 'slack+http://hooks.slack.com/services/T0/B0/XXXX', /use https/],
    ['secret_file on Slack', 'slack+https://hooks.slack.com/services/T/B/X#secret_file=/run/secrets/hook', /secret_file= is for generic webhooks/],
    ['a command with a host', 'cmd://usr/local/bin/on-event', /cmd:\/\/\/absolute\/path \(three slashes\); "usr" was read as a host/],
    ['a command with arguments', 'cmd:///usr/local/bin/on-event?x=1', /a command takes no arguments/],
    ['a command that is not executable', 'cmd:///usr/local/bin/missing', /the command is not an executable file/],
    ['a target listed twice', 'cmd:///usr/local/bin/on-event cmd:///usr/local/bin/on-event', /target 2 \(command \/usr\/local\/bin\/on-event \(#2\)\) is listed twice/],
    ['a bad option in the second target', 'cmd:///usr/local/bin/on-event discord+https://discord.com/api/webhooks/1/tok#events=all', /target 2 \(discord https:\/\/discord\.com\): events: "all"/],
  ];
  for (const [what, value, expected, env] of refusals) {
    it(`refuses ${what}, naming the target and the part`, () => {
      assert.match(parseError(value, env), expected);
    });
  }

  it('never puts the secret parts of a target (path, query, secret) in its label or its errors', () => {
    const secretPath = 'services/T0XYZZY/B0XYZZY/XXXXXYZZY';
    const [slack] = parse(`slack+https://hooks.slack.com/${secretPath}?token=QXYZZY`);
    assert.doesNotMatch(slack.label, /XYZZY/);
    const message = parseError(`discord+https://discord.com/api/webhooks/1/TOKXYZZY?x=QXYZZY#events=nope`);
    assert.doesNotMatch(message, /XYZZY/);
    const short = parseError('https://h.example/x', { DOCKFLOW_NOTIFY_SECRET: 'XYZZYshort' });
    assert.doesNotMatch(short, /XYZZY/);
  });
});

describe('notification filters', () => {
  it('every operation notifies; queries, the lock and the delivery workflow itself do not', () => {
    for (const type of ['deploy', 'update', 'rollback', 'backup', 'restore', 'migrate', 'down']) assert.equal(isNotifyOperation(type), true, type);
    for (const type of ['history', 'backups', 'projectLock', 'notifyOperation']) assert.equal(isNotifyOperation(type), false, type);
  });

  it('match events, operations and projects; no projects= means every project', () => {
    const [all, some] = parse('https://a.example/x https://b.example/x#events=failed&operations=deploy,update&projects=shop');
    assert.equal(targetWants(all, event), true);
    assert.equal(targetWants(all, { ...event, project: undefined }), true);
    assert.equal(targetWants(some, event), true);
    assert.equal(targetWants(some, { ...event, event: 'completed' }), false);
    assert.equal(targetWants(some, { ...event, operation: 'backup' }), false);
    assert.equal(targetWants(some, { ...event, project: 'blog' }), false);
    // An operation that failed before its project was known matches no projects= filter.
    assert.equal(targetWants(some, { ...event, project: undefined }), false);
  });

  it('the resolving activity returns only the wanting targets, without URLs or secrets', async () => {
    const targets = parse('https://a.example/x slack+https://hooks.slack.com/services/T/B/TOKEN#events=completed');
    const refs = await createNotifyActivities(targets).notificationTargets(event);
    assert.deepEqual(refs, [{ id: targets[0].id, label: 'webhook https://a.example (#1)', kind: 'webhook' }]);
  });
});

describe('notification bodies', () => {
  it('the idempotency key depends on workflow ID, run ID and event only', () => {
    const key = idempotencyKey(event);
    assert.match(key, /^[0-9a-f]{32}$/);
    assert.equal(idempotencyKey({ ...event }), key);
    assert.equal(notificationBody({ ...event, finishedAt: '2030-01-01T00:00:00.000Z' }).idempotencyKey, key);
    assert.notEqual(idempotencyKey({ ...event, runId: 'other' }), key);
    assert.notEqual(idempotencyKey({ ...event, workflowId: 'other' }), key);
    assert.notEqual(idempotencyKey({ ...event, event: 'cancelled' }), key);
    // The separator keeps "a"+"bc" and "ab"+"c" apart.
    assert.notEqual(idempotencyKey({ ...event, workflowId: 'a', runId: 'bc' }), idempotencyKey({ ...event, workflowId: 'ab', runId: 'c' }));
  });

  it('a generic webhook gets the JSON body, its key in a header, and an HMAC-SHA256 of the exact bytes', () => {
    const [target] = parse('https://hooks.example.com/dockflow?team=ops');
    const message = httpMessage(target, event);
    assert.equal(message.url, 'https://hooks.example.com/dockflow?team=ops');
    const body = JSON.parse(message.body);
    assert.deepEqual(body, { ...event, idempotencyKey: idempotencyKey(event) });
    assert.equal(message.headers['content-type'], 'application/json');
    assert.equal(message.headers['idempotency-key'], body.idempotencyKey);
    assert.equal(message.headers['x-dockflow-event'], 'failed');
    const expected = `sha256=${createHmac('sha256', SECRET).update(message.body).digest('hex')}`;
    assert.equal(message.headers['x-dockflow-signature-256'], expected);
    assert.equal(verifySignature(SECRET, message.body, expected), true);
    assert.equal(verifySignature(SECRET, message.body.replace('shop', 'shoq'), expected), false);
    assert.equal(verifySignature('another-secret-of-enough-length', message.body, expected), false);
    assert.equal(verifySignature(SECRET, message.body, undefined), false);
    assert.equal(signBody(SECRET, 'x'), 'sha256=' + createHmac('sha256', SECRET).update('x').digest('hex'));
    // The secret is in no header and nowhere in the body.
    assert.doesNotMatch(JSON.stringify(message), new RegExp(SECRET));
  });

  it('cuts long error messages', () => {
    const body = notificationBody({ ...event, error: { message: 'x'.repeat(5000) } });
    assert.equal(body.error!.message.length, 2001);
  });

  it('Slack gets mrkdwn text with &, < and > escaped', () => {
    const body = notificationBody({ ...event, error: { message: 'bad <!channel> & worse' } });
    assert.deepEqual(slackBody(body), {
      text: [
        ':x: dockflow: deploy of shop failed',
        'error: bad &lt;!channel&gt; &amp; worse',
        'workflow dockflow-deploy-shop (run 3f1c9c1e-0000-4000-8000-000000000001) on dockflow',
      ].join('\n'),
    });
    const [slack] = parse('slack+https://hooks.slack.com/services/T/B/X');
    const message = httpMessage(slack, event);
    assert.equal(message.headers['x-dockflow-signature-256'], undefined);
    assert.equal(JSON.parse(message.body).text.split('\n')[0], ':x: dockflow: deploy of shop failed');
  });

  it('Discord gets content that pings nobody, within its 2000 characters', () => {
    const body = notificationBody({ ...event, event: 'completed', error: undefined, revision: 7 });
    assert.deepEqual(discordBody(body), {
      content: ':white_check_mark: dockflow: deploy of shop completed (revision 7)\nworkflow dockflow-deploy-shop (run 3f1c9c1e-0000-4000-8000-000000000001) on dockflow',
      username: 'dockflow',
      allowed_mentions: { parse: [] },
    });
    const long = discordBody(notificationBody({ ...event, error: { message: '@everyone '.repeat(500) } }));
    assert.equal(long.content.length, 2000);
  });

  it('headlines name the schedule and the backup', () => {
    assert.equal(
      eventHeadline({ ...event, operation: 'backup', event: 'completed', error: undefined, backupId: '20261130T100000Z', scheduleId: 'dockflow-backup-shop' }),
      'dockflow: backup of shop completed (backup 20261130T100000Z, scheduled by dockflow-backup-shop)',
    );
    assert.deepEqual(resultFacts({ revision: 3, backupId: 'b1', plan: 'x' }), { revision: 3, backupId: 'b1' });
    assert.deepEqual(resultFacts({ revision: '3' }), {});
    assert.deepEqual(resultFacts(undefined), {});
  });

  it("a command's environment holds the event, not the worker's secrets", () => {
    const env = commandEnv(notificationBody(event), { PATH: '/bin', DOCKFLOW_NOTIFY_SECRET: SECRET, DOCKFLOW_ENCRYPTION_KEY: 'k', AWS_SECRET_ACCESS_KEY: 's' });
    assert.deepEqual(env, {
      PATH: '/bin',
      DOCKFLOW_EVENT: 'failed',
      DOCKFLOW_OPERATION: 'deploy',
      DOCKFLOW_PROJECT: 'shop',
      DOCKFLOW_WORKFLOW_ID: 'dockflow-deploy-shop',
      DOCKFLOW_IDEMPOTENCY_KEY: idempotencyKey(event),
    });
  });

  it('retries a receiver that is down or busy, not one that refuses the request', () => {
    for (const status of [500, 502, 503, 504, 408, 425, 429]) assert.equal(isRetryableStatus(status), true, String(status));
    for (const status of [400, 401, 403, 404, 410, 413, 301, 302]) assert.equal(isRetryableStatus(status), false, String(status));
  });
});

describe('delivery (the activity, outside Temporal, against a local receiver and real commands)', () => {
  const serve = async (status: number, headers: Record<string, string> = {}) => {
    const requests: { headers: http.IncomingHttpHeaders; body: string; url?: string }[] = [];
    const server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        requests.push({ headers: req.headers, body, url: req.url });
        res.writeHead(status, headers).end(status >= 400 ? 'nope' : 'ok');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    return { port, requests, close: () => new Promise((r) => server.close(r)) };
  };
  const deliver = async (value: string) => {
    const targets = parseNotifyTargets({ DOCKFLOW_NOTIFY: value, DOCKFLOW_NOTIFY_SECRET: SECRET });
    const activities = createNotifyActivities(targets);
    const [target] = await activities.notificationTargets(event);
    return activities.deliverNotification({ target, event });
  };
  const failureOf = async (promise: Promise<unknown>): Promise<ApplicationFailure> => {
    try {
      await promise;
    } catch (err) {
      assert.ok(err instanceof ApplicationFailure, String(err));
      return err;
    }
    assert.fail('expected the delivery to fail');
  };

  it('posts the signed body to the URL without its fragment', async () => {
    const receiver = await serve(204);
    try {
      assert.deepEqual(await deliver(`http://127.0.0.1:${receiver.port}/hook?x=1#events=failed&timeout=5`), { target: `webhook http://127.0.0.1:${receiver.port} (#1)`, detail: 'HTTP 204' });
      assert.equal(receiver.requests.length, 1);
      assert.equal(receiver.requests[0].url, '/hook?x=1');
      assert.equal(verifySignature(SECRET, receiver.requests[0].body, receiver.requests[0].headers['x-dockflow-signature-256'] as string), true);
    } finally {
      await receiver.close();
    }
  });

  it('a 503 is retryable; a 404 or a redirect is not, and no redirect is followed', async () => {
    for (const [status, retryable] of [[503, true], [404, false], [302, false]] as const) {
      const receiver = await serve(status, status === 302 ? { location: 'http://127.0.0.1:1/elsewhere' } : {});
      try {
        const failure = await failureOf(deliver(`http://127.0.0.1:${receiver.port}/hook`));
        assert.equal(failure.nonRetryable, !retryable, `${status}`);
        assert.equal(failure.type, retryable ? 'NotificationFailed' : 'NotificationRejected');
        assert.match(failure.message, new RegExp(`answered HTTP ${status}`));
        assert.equal(receiver.requests.length, 1);
      } finally {
        await receiver.close();
      }
    }
  });

  it('a receiver that is down is a retryable failure without a socket error code', async () => {
    const receiver = await serve(200);
    await receiver.close();
    const failure = await failureOf(deliver(`http://127.0.0.1:${receiver.port}/hook`));
    assert.equal(failure.nonRetryable, false);
    assert.match(failure.message, /fetch failed \(ECONNREFUSED\)/);
    assert.equal((failure as unknown as { code?: string }).code, undefined);
  });

  it('a command gets the body on stdin; a non-zero exit is retryable with its stderr; a slow one is killed at its timeout', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'notify-unit-'));
    try {
      const script = (name: string, body: string) => {
        const file = path.join(dir, name);
        fs.writeFileSync(file, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
        return file;
      };
      const ok = script('ok.sh', `cat > ${dir}/stdin.json`);
      assert.deepEqual(await deliver(`cmd://${ok}`), { target: `command ${ok} (#1)`, detail: 'exit 0' });
      assert.deepEqual(JSON.parse(fs.readFileSync(path.join(dir, 'stdin.json'), 'utf8')), notificationBody(event));

      const bad = script('bad.sh', 'echo "no route to chat" >&2; exit 3');
      const failure = await failureOf(deliver(`cmd://${bad}`));
      assert.equal(failure.nonRetryable, false);
      assert.match(failure.message, /: exit 3: no route to chat$/);

      const slow = script('slow.sh', 'exec sleep 30');
      const started = Date.now();
      const timedOut = await failureOf(deliver(`cmd://${slow}#timeout=1`));
      assert.match(timedOut.message, /killed by SIGKILL \(timeout 1s or cancelled\)/);
      assert.ok(Date.now() - started < 10_000);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a target this worker does not have (DOCKFLOW_NOTIFY changed) is given up at once', async () => {
    const failure = await failureOf(createNotifyActivities([]).deliverNotification({ target: { id: 'gone', label: 'webhook https://old.example (#1)', kind: 'webhook' }, event }));
    assert.equal(failure.nonRetryable, true);
    assert.equal(failure.type, 'NotificationTargetUnknown');
  });
});
