/**
 * `dockflow ps` reads Temporal without the SDK (src/client/light-temporal.ts).
 * Against a gRPC server made here with node:http2, whose requests and answers
 * are decoded and encoded by the SDK's own protobuf definitions: what the
 * light client sends must be the message the SDK means, and it must read
 * what Temporal answers as the SDK would, encrypted payloads included (the
 * codec's own encryption), or refuse it (LightUnsupported) so the caller asks
 * the SDK.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { temporal } from '@temporalio/proto';
import type Long from 'long';
import { LightTemporal, LightUnsupported } from '../../src/client/light-temporal';
import { GrpcError, ProtoWriter, readFields } from '../../src/client/wire';
import { AesGcmCodec, parseKey } from '../../src/temporal/codec';

const api = temporal.api;
const ws = api.workflowservice.v1;
const KEY = parseKey(Buffer.alloc(32, 7).toString('base64'), 'test key');
/** An int64 field's value: protobufjs takes a plain number where its types say Long. */
const int64 = (n: number) => n as unknown as Long;
const json = (value: unknown) => ({ metadata: { encoding: Buffer.from('json/plain') }, data: Buffer.from(JSON.stringify(value)) });

type Handler = (request: Buffer) => { status?: number; message?: string; body?: Uint8Array };

/** A gRPC server: one handler per method, answering with the handler's message or status. */
function grpcServer(handlers: Record<string, Handler>) {
  const calls: { method: string; request: Buffer }[] = [];
  const server = http2.createServer();
  server.on('stream', (stream, headers) => {
    const method = String(headers[':path']).split('/').at(-1)!;
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      const body = Buffer.concat(chunks);
      const request = body.subarray(5, 5 + body.readUInt32BE(1));
      calls.push({ method, request });
      const handler = handlers[method];
      const answer = handler ? handler(request) : { status: 12, message: `${method} not implemented` };
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': String(answer.status ?? 0), 'grpc-message': encodeURIComponent(answer.message ?? '') }));
      if (answer.body) {
        const frame = Buffer.alloc(5 + answer.body.length);
        frame.writeUInt32BE(answer.body.length, 1);
        Buffer.from(answer.body).copy(frame, 5);
        stream.end(frame);
      } else stream.end();
    });
  });
  return { server, calls };
}

describe('protobuf by field number (src/client/wire.ts)', () => {
  it('writes what the SDK decodes, and reads what it encodes', () => {
    const written = new ProtoWriter()
      .string(1, 'default')
      .int(2, 300)
      .string(4, "DockflowProject = 'shop'")
      .finish();
    const decoded = ws.ListWorkflowExecutionsRequest.decode(written);
    assert.deepEqual([decoded.namespace, decoded.pageSize, decoded.query], ['default', 300, "DockflowProject = 'shop'"]);
    const encoded = api.workflow.v1.WorkflowExecutionInfo.encode({
      execution: { workflowId: 'w', runId: 'r' },
      startTime: { seconds: int64(1_764_500_000), nanos: 123_456_789 },
      historyLength: int64(2 ** 40),
    }).finish();
    const fields = readFields(encoded);
    assert.equal(fields.get(6)?.[0], 2 ** 40, 'a varint past 32 bits');
    assert.equal(readFields(fields.get(3)![0] as Buffer).get(2)?.[0], 123_456_789);
  });
});

describe('the light Temporal client', () => {
  let address: string;
  let calls: { method: string; request: Buffer }[];
  const closes: Record<string, Parameters<typeof api.history.v1.HistoryEvent.create>[0]> = {};
  let server: http2.Http2Server;

  before(async () => {
    const codec = new AesGcmCodec([KEY]);
    const made = grpcServer({
      ListWorkflowExecutions: (request) => {
        const { query, nextPageToken } = ws.ListWorkflowExecutionsRequest.decode(request);
        if (query.includes('broken')) return { status: 3, message: 'invalid query: broken' };
        // Two pages: the client must follow the token.
        const page = nextPageToken?.length ? 2 : 1;
        const body = ws.ListWorkflowExecutionsResponse.encode({
          executions: [{
            execution: { workflowId: `deploy-shop-${page}`, runId: `run-${page}` },
            type: { name: 'deploy' },
            startTime: { seconds: int64(1_764_500_000 + page), nanos: 5_000_000 },
            searchAttributes: { indexedFields: { DockflowOperation: { metadata: { encoding: Buffer.from('json/plain'), type: Buffer.from('Keyword') }, data: Buffer.from(JSON.stringify(page === 1 ? 'update' : 'deploy')) } } },
          }],
          nextPageToken: page === 1 ? Buffer.from('next') : undefined,
        }).finish();
        return { body };
      },
      QueryWorkflow: (request) => {
        const { execution, query } = ws.QueryWorkflowRequest.decode(request);
        if (execution?.workflowId === 'rejected') return { body: ws.QueryWorkflowResponse.encode({ queryRejected: { status: 3 } }).finish() };
        assert.equal(query?.queryType, 'progress');
        return { body: ws.QueryWorkflowResponse.encode({ queryResult: { payloads: [json({ phase: `at ${execution?.runId}` })] } }).finish() };
      },
      StartWorkflowExecution: (request) => {
        const start = ws.StartWorkflowExecutionRequest.decode(request);
        return { body: ws.StartWorkflowExecutionResponse.encode({ runId: `run-of-${start.workflowId}` }).finish() };
      },
      GetWorkflowExecutionHistory: (request) => {
        const { execution, waitNewEvent, historyEventFilterType, nextPageToken } = ws.GetWorkflowExecutionHistoryRequest.decode(request);
        assert.equal(waitNewEvent, true);
        assert.equal(historyEventFilterType, api.enums.v1.HistoryEventFilterType.HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT);
        // The long poll's first answer is empty with a token (nothing closed yet), as Temporal's after its wait.
        if (!nextPageToken?.length) return { body: ws.GetWorkflowExecutionHistoryResponse.encode({ nextPageToken: Buffer.from('again') }).finish() };
        return { body: ws.GetWorkflowExecutionHistoryResponse.encode({ history: { events: [closes[execution!.workflowId!]!] } }).finish() };
      },
    });
    ({ server, calls } = made);
    closes.plain = { eventType: api.enums.v1.EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED, workflowExecutionCompletedEventAttributes: { result: { payloads: [json([{ number: 1 }, { number: 2 }])] } } };
    closes.encrypted = { eventType: api.enums.v1.EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED, workflowExecutionCompletedEventAttributes: { result: { payloads: await codec.encode([json([{ number: 3 }])]) } } };
    closes.failed = { eventType: api.enums.v1.EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED, workflowExecutionFailedEventAttributes: { failure: { message: 'boom' } } };
    closes.continued = { eventType: api.enums.v1.EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED, workflowExecutionCompletedEventAttributes: { newExecutionRunId: 'next-run' } };
    closes.protobuf = { eventType: api.enums.v1.EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED, workflowExecutionCompletedEventAttributes: { result: { payloads: [{ metadata: { encoding: Buffer.from('json/protobuf') }, data: Buffer.from('{}') }] } } };
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    address = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => server.close());

  it('lists every page of a visibility query, with start times and keyword search attributes', async () => {
    const light = await LightTemporal.connect({ address, namespace: 'default' }, [], 3_000);
    try {
      const listed = await light.list("DockflowProject = 'shop'");
      assert.deepEqual(
        listed.map((e) => [e.workflowId, e.runId, e.type, e.startTime.toISOString(), e.searchAttributes.DockflowOperation]),
        [
          ['deploy-shop-1', 'run-1', 'deploy', '2025-11-30T10:53:21.005Z', 'update'],
          ['deploy-shop-2', 'run-2', 'deploy', '2025-11-30T10:53:22.005Z', 'deploy'],
        ],
      );
      await assert.rejects(light.list('broken'), (err: unknown) => err instanceof GrpcError && err.code === 3 && /invalid query: broken/.test(err.message));
      assert.deepEqual(await light.query('deploy-shop-1', 'run-1', 'progress'), { phase: 'at run-1' });
      await assert.rejects(light.query('rejected', 'r', 'progress'), LightUnsupported);
    } finally {
      light.close();
    }
  });

  it('starts a workflow as the SDK does (encrypted input with a key) and reads its result, encrypted or not', async () => {
    const light = await LightTemporal.connect({ address, namespace: 'ops' }, [KEY], 3_000);
    try {
      const runId = await light.start('history', { workflowId: 'plain', taskQueue: 'dockflow', arg: { project: 'shop' }, executionTimeoutSeconds: 15 });
      assert.equal(runId, 'run-of-plain');
      const start = ws.StartWorkflowExecutionRequest.decode(calls.filter((c) => c.method === 'StartWorkflowExecution').at(-1)!.request);
      assert.deepEqual(
        [start.namespace, start.workflowId, start.workflowType?.name, start.taskQueue?.name, start.taskQueue?.kind, Number(start.workflowExecutionTimeout?.seconds)],
        ['ops', 'plain', 'history', 'dockflow', api.enums.v1.TaskQueueKind.TASK_QUEUE_KIND_NORMAL, 15],
      );
      assert.match(start.requestId, /^[0-9a-f-]{36}$/);
      const [input] = await new AesGcmCodec([KEY]).decode(start.input!.payloads!);
      assert.equal(Buffer.from(input.metadata!.encoding!).toString(), 'json/plain');
      assert.deepEqual(JSON.parse(Buffer.from(input.data!).toString()), { project: 'shop' }, 'the worker decodes the input with its codec');

      assert.deepEqual(await light.result('plain', runId), [{ number: 1 }, { number: 2 }]);
      assert.deepEqual(await light.result('encrypted', 'r'), [{ number: 3 }]);
      for (const closed of ['failed', 'continued', 'protobuf']) await assert.rejects(light.result(closed, 'r'), LightUnsupported, closed);
    } finally {
      light.close();
    }
  });

  it('an encrypted result without its key is refused, never read as something else', async () => {
    const light = await LightTemporal.connect({ address, namespace: 'default' }, [parseKey(Buffer.alloc(32, 9).toString('base64'), 'other key')], 3_000);
    try {
      await assert.rejects(light.result('encrypted', 'r'), /not among the configured keys/);
    } finally {
      light.close();
    }
  });

  it('a refused connection fails at once', async () => {
    const refused = http2.createServer();
    await new Promise<void>((resolve) => refused.listen(0, '127.0.0.1', resolve));
    const port = (refused.address() as AddressInfo).port;
    await new Promise<void>((resolve) => refused.close(() => resolve()));
    const started = Date.now();
    await assert.rejects(LightTemporal.connect({ address: `127.0.0.1:${port}`, namespace: 'default' }, [], 3_000), /ECONNREFUSED/);
    assert.ok(Date.now() - started < 2_000);
  });
});
