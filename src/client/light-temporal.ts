/**
 * The Temporal requests `dockflow ps` makes, without the Temporal SDK: list
 * workflows, query one, start one and wait for it to close. Loading the SDK
 * (its protobuf definitions, gRPC, the data converter) costs more CPU than all
 * the rest of `ps`; these five calls need none of it (./wire.ts).
 *
 * Only the answers the SDK would decode the same way are returned: payloads
 * in json/plain or binary/null, encrypted or not with the keys the SDK client
 * would use (cliKeys, as connect.ts), and a workflow that completed. Anything
 * else (another encoding, a failed or timed-out workflow, a run continued as
 * new) is a LightUnsupported error, on which the caller asks the SDK instead
 * (src/cli/status-temporal.ts), so every message stays the SDK's.
 */
import { randomUUID } from 'node:crypto';
import * as os from 'node:os';
import type { TemporalSettings } from '../temporal/settings';
import { isEncrypted, openPayloadBytes, sealPayloadBytes, type EncryptionKey } from '../temporal/keys';
import { GrpcConnection, ProtoWriter, bytesField, intField, mapField, messagesField, readFields, stringField, type ProtoFields } from './wire';

const SERVICE = 'temporal.api.workflowservice.v1.WorkflowService';
/** Each call's deadline; a history long poll is answered within Temporal's own (about 20 s), empty if nothing happened. */
const CALL_TIMEOUT_MS = 30_000;
const TASK_QUEUE_KIND_NORMAL = 1;
const HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT = 2;
/** HistoryEvent fields: event type, and the attributes of a completed workflow (its result). */
const EVENT_TYPE = 3;
const COMPLETED_ATTRIBUTES = 7;
const EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED = 2;

/** An answer this client does not decode as the SDK would: ask the SDK. */
export class LightUnsupported extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LightUnsupported';
  }
}

export interface ListedExecution {
  workflowId: string;
  runId: string;
  type: string;
  startTime: Date;
  /** Search attributes, decoded (keywords as strings). */
  searchAttributes: Record<string, unknown>;
}

interface Payload {
  metadata: Map<string, Buffer>;
  data: Buffer;
}

function payloadMessage(metadata: Record<string, Uint8Array>, data: Uint8Array): ProtoWriter {
  const w = new ProtoWriter();
  for (const [key, value] of Object.entries(metadata)) w.message(1, new ProtoWriter().string(1, key).bytes(2, value));
  return w.bytes(2, data);
}

function readPayload(fields: ProtoFields): Payload {
  return { metadata: mapField(fields, 1), data: bytesField(fields, 2) ?? Buffer.alloc(0) };
}

/** A Payload's value as the SDK's default payload converter reads it (json/plain, binary/null). */
function plainValue({ metadata, data }: Payload): unknown {
  const encoding = metadata.get('encoding')?.toString('utf8');
  if (encoding === 'binary/null') return undefined;
  if (encoding === 'json/plain') return JSON.parse(data.toString('utf8'));
  throw new LightUnsupported(`a payload in encoding ${encoding ?? '(none)'}`);
}

function timestampToDate(fields: ProtoFields | undefined): Date {
  // As the SDK's tsToDate: whole milliseconds.
  return new Date(fields ? intField(fields, 1) * 1000 + Math.floor(intField(fields, 2) / 1e6) : 0);
}

function execution(workflowId: string, runId?: string): ProtoWriter {
  return new ProtoWriter().string(1, workflowId).string(2, runId);
}

export class LightTemporal {
  private readonly byId: Map<string, Buffer>;

  private constructor(
    private readonly connection: GrpcConnection,
    private readonly namespace: string,
    private readonly keys: EncryptionKey[],
  ) {
    this.byId = new Map(keys.map((k) => [k.id, k.key]));
  }

  /**
   * Connected to the settings' address over their TLS and API key (as
   * connect.ts's SDK connection), using `keys` as the SDK client's codec would
   * (none: plain payloads). `signal` abandons the attempt.
   */
  static async connect(
    settings: Pick<TemporalSettings, 'address' | 'namespace' | 'tls' | 'apiKey'>,
    keys: EncryptionKey[],
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<LightTemporal> {
    return new LightTemporal(await GrpcConnection.connect(settings.address, timeoutMs, { tls: settings.tls, apiKey: settings.apiKey }, signal), settings.namespace, keys);
  }

  /** Closes the connection; calls still in flight are abandoned (GrpcConnection.close). */
  close(): void {
    this.connection.close();
  }

  private async call(method: string, request: ProtoWriter): Promise<ProtoFields> {
    return readFields(await this.connection.call(SERVICE, method, request.finish(), CALL_TIMEOUT_MS));
  }

  /** As the SDK's codec: the first key encrypts; without keys, plain. */
  private encode(value: unknown): ProtoWriter {
    const plain = payloadMessage({ encoding: Buffer.from('json/plain') }, Buffer.from(JSON.stringify(value), 'utf8'));
    if (this.keys.length === 0) return plain;
    const sealed = sealPayloadBytes(plain.finish(), this.keys[0]);
    return payloadMessage(sealed.metadata, sealed.data);
  }

  private decode(fields: ProtoFields): unknown {
    let payload = readPayload(fields);
    if (isEncrypted(Object.fromEntries(payload.metadata))) {
      payload = readPayload(readFields(openPayloadBytes(Object.fromEntries(payload.metadata), payload.data, this.byId)));
    }
    return plainValue(payload);
  }

  /** The first payload's value (none: undefined), as the SDK's fromPayloadsAtIndex(…, 0, …). */
  private firstValue(payloads: ProtoFields | undefined): unknown {
    const first = payloads ? messagesField(payloads, 1)[0] : undefined;
    return first ? this.decode(first) : undefined;
  }

  /** Every execution a visibility query matches, page after page. */
  async list(query: string): Promise<ListedExecution[]> {
    const found: ListedExecution[] = [];
    let token: Buffer | undefined;
    do {
      const response = await this.call('ListWorkflowExecutions', new ProtoWriter().string(1, this.namespace).bytes(3, token).string(4, query));
      for (const info of messagesField(response, 1)) {
        const exec = messagesField(info, 1)[0];
        const attributes = messagesField(info, 11)[0];
        const searchAttributes: Record<string, unknown> = {};
        // Search attributes are never encrypted: the server indexes them.
        for (const [name, payload] of attributes ? mapField(attributes, 1) : []) searchAttributes[name] = plainValue(readPayload(readFields(payload)));
        found.push({
          workflowId: exec ? stringField(exec, 1) : '',
          runId: exec ? stringField(exec, 2) : '',
          type: messagesField(info, 2)[0] ? stringField(messagesField(info, 2)[0], 1) : '',
          startTime: timestampToDate(messagesField(info, 3)[0]),
          searchAttributes,
        });
      }
      token = bytesField(response, 2);
    } while (token && token.length > 0);
    return found;
  }

  /** A query without arguments; rejected: LightUnsupported (the SDK words it). */
  async query(workflowId: string, runId: string, queryType: string): Promise<unknown> {
    const response = await this.call(
      'QueryWorkflow',
      new ProtoWriter().string(1, this.namespace).message(2, execution(workflowId, runId)).message(3, new ProtoWriter().string(1, queryType).message(2, new ProtoWriter())),
    );
    if (response.has(2)) throw new LightUnsupported(`query ${queryType} rejected`);
    return this.firstValue(messagesField(response, 1)[0]);
  }

  /** Starts a workflow with one argument, as WorkflowClient.start does (no execution timeout unless given); its run ID. */
  async start(type: string, options: { workflowId: string; taskQueue: string; arg: unknown; executionTimeoutSeconds?: number }): Promise<string> {
    const request = new ProtoWriter()
      .string(1, this.namespace)
      .string(2, options.workflowId)
      .message(3, new ProtoWriter().string(1, type))
      .message(4, new ProtoWriter().string(1, options.taskQueue).int(2, TASK_QUEUE_KIND_NORMAL))
      .message(5, new ProtoWriter().message(1, this.encode(options.arg)))
      .message(6, options.executionTimeoutSeconds ? new ProtoWriter().int(1, options.executionTimeoutSeconds) : undefined)
      .string(9, `${process.pid}@${os.hostname()}`)
      .string(10, randomUUID())
      .message(16, new ProtoWriter());
    return stringField(await this.call('StartWorkflowExecution', request), 1);
  }

  /** The result of a run once it completed; any other close: LightUnsupported (the SDK reads that run's failure). */
  async result(workflowId: string, runId: string): Promise<unknown> {
    let token: Buffer | undefined;
    for (;;) {
      const response = await this.call(
        'GetWorkflowExecutionHistory',
        new ProtoWriter().string(1, this.namespace).message(2, execution(workflowId, runId)).bytes(4, token).int(5, true).int(6, HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT).int(7, true),
      );
      const history = messagesField(response, 1)[0];
      const event = history ? messagesField(history, 1)[0] : undefined;
      if (event) {
        const completed = messagesField(event, COMPLETED_ATTRIBUTES)[0];
        if (intField(event, EVENT_TYPE) !== EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED || !completed) throw new LightUnsupported(`${workflowId} closed without completing`);
        // A run that continued (retry, cron): the SDK follows it.
        if (stringField(completed, 3)) throw new LightUnsupported(`${workflowId} continued in another run`);
        return this.firstValue(messagesField(completed, 1)[0]);
      }
      token = bytesField(response, 3);
    }
  }
}
