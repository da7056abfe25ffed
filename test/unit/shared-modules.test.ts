/**
 * The modules a worker shares between workflow executions
 * (workflows/shared-modules.ts: zod) are deep-frozen by the SDK before any
 * workflow runs, and each execution builds its schemas with them. Every
 * workflow input of the recorded histories, and broken ones, must parse the
 * same (same data, same error messages) with schemas built on a frozen zod
 * as on a zod of their own.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import '../../workflows/shared-modules';
import { z } from 'zod';
import type * as input from '../../src/model/input';
import type * as backupInput from '../../src/model/backup-input';

/** The SDK's deepFreeze (@temporalio/worker lib/workflow/reusable-vm.js), as it freezes shared modules. */
function deepFreeze(object: unknown, visited = new WeakSet<object>()): unknown {
  if (object == null || (typeof object !== 'object' && typeof object !== 'function') || visited.has(object)) return object;
  visited.add(object);
  if (Object.isFrozen(object)) return object;
  if (typeof object === 'object') {
    for (const name of [...Object.getOwnPropertyNames(object), ...Object.getOwnPropertySymbols(object)]) {
      const value = (object as Record<PropertyKey, unknown>)[name];
      if (value && (typeof value === 'object' || typeof value === 'function')) {
        try {
          deepFreeze(value, visited);
        } catch {
          // As the SDK: some objects cannot be frozen (typed arrays).
        }
      }
    }
  }
  return Object.freeze(object);
}

const HISTORIES = path.resolve(__dirname, '..', 'histories');

/** Every workflow input of the recorded histories, decoded. */
function recordedInputs(): unknown[] {
  return fs
    .readdirSync(HISTORIES, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.json'))
    .flatMap((f) => {
      const history = JSON.parse(fs.readFileSync(path.join(HISTORIES, f), 'utf8'));
      const payloads: { data?: string }[] = history.events[0].workflowExecutionStartedEventAttributes.input?.payloads ?? [];
      return payloads.filter((p) => p.data).map((p) => JSON.parse(Buffer.from(p.data!, 'base64').toString('utf8')) as unknown);
    });
}

/** Each input broken in ways that reach zod's error paths: a missing key, a wrong type, an unknown key, a bad nested value. */
function broken(inputs: unknown[]): unknown[] {
  const out: unknown[] = [{}, null, 'x', { spec: 1 }, { project: '' }, { project: 'UPPER case' }, { project: 'p', extra: true }];
  for (const i of inputs) {
    if (!i || typeof i !== 'object') continue;
    const o = i as Record<string, unknown>;
    out.push({ ...o, unknownKey: 1 });
    for (const k of Object.keys(o)) out.push({ ...o, [k]: 12345 });
    const spec = o.spec as Record<string, unknown> | undefined;
    if (spec && typeof spec === 'object') {
      out.push({ ...o, spec: { ...spec, project: 'Bad Name!' } });
      const services = spec.services as Record<string, Record<string, unknown>> | undefined;
      const first = services && Object.keys(services)[0];
      if (first) out.push({ ...o, spec: { ...spec, services: { ...services, [first]: { ...services[first], image: 7, replicas: -1 } } } });
    }
  }
  return out;
}

type Model = typeof input & typeof backupInput;
const schemasOf = (model: Model) => Object.entries(model).filter(([, v]) => v && typeof v === 'object' && '_zod' in v && 'safeParse' in v) as [string, z.ZodType][];

/** The input modules evaluated afresh, as each workflow execution does; with `ownZod`, with a zod of their own too. */
function freshModel(ownZod: boolean): Model {
  /* eslint-disable @typescript-eslint/no-require-imports -- a separate evaluation */
  const cached = Object.keys(require.cache).filter((k) => (ownZod ? /[\\/](zod|src)[\\/]/ : /[\\/]src[\\/]/).test(k));
  const saved = cached.map((k) => [k, require.cache[k]] as const);
  for (const k of cached) delete require.cache[k];
  try {
    return { ...(require('../../src/model/input') as typeof input), ...(require('../../src/model/backup-input') as typeof backupInput) };
  } finally {
    for (const [k, m] of saved) require.cache[k] = m;
  }
  /* eslint-enable @typescript-eslint/no-require-imports */
}

function parseAll(model: Model, values: unknown[]): string[] {
  const { formatZodError } = model;
  return schemasOf(model).flatMap(([name, schema]) =>
    values.map((v) => {
      const r = schema.safeParse(v);
      return `${name}: ${r.success ? `ok ${JSON.stringify(r.data)}` : `error ${formatZodError(r.error)}`}`;
    }),
  );
}

describe('modules shared between workflow executions', () => {
  it('parse every workflow input the same with schemas built on a zod deep-frozen as the SDK freezes it', () => {
    const recorded = recordedInputs();
    assert.ok(recorded.length >= 10, `${recorded.length} recorded inputs`);
    // The SDK freezes every module loaded while preloading, each on its own: here every module of zod's.
    const zodModules = Object.keys(require.cache).filter((k) => /[\\/]node_modules[\\/]zod[\\/]/.test(k));
    assert.ok(zodModules.length > 20, `${zodModules.length} zod modules`);
    for (const k of zodModules) deepFreeze(require.cache[k]!.exports);
    // And the context's globals, where zod keeps its configuration and registry.
    for (const key of ['__zod_globalConfig', '__zod_globalRegistry']) deepFreeze((globalThis as Record<string, unknown>)[key]);
    const own = freshModel(true);
    assert.ok(schemasOf(own).length >= 8, `${schemasOf(own).length} input schemas`);
    const values = [...recorded, ...broken(recorded)];
    const expected = parseAll(own, values);
    assert.ok(expected.some((r) => r.startsWith('DeployInput: ok')) && expected.some((r) => r.startsWith('DeployInput: error')));
    const shared = freshModel(false);
    // The freeze reached zod's exports, and the schemas are built on that zod.
    const constr = (model: Model) => (model.DeployInput as unknown as { _zod: { constr: unknown } })._zod.constr;
    assert.ok(Object.isFrozen((globalThis as Record<string, unknown>).__zod_globalConfig), 'zod configuration frozen');
    assert.ok(constr(shared) !== constr(own) && (Object.values(z) as unknown[]).includes(constr(shared)), 'the schemas built on the frozen zod');
    assert.deepEqual(parseAll(shared, values), expected);
  });
});
