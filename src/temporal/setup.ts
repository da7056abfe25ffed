/**
 * Namespace setup: register dockflow's search attributes (`dockflow setup`,
 * and the worker's check at start). Idempotent: attributes already present
 * with the right type are left alone; one present with another type is an
 * error naming it, since changing a type is not something to do silently.
 */
import { temporal } from '@temporalio/proto';
import { msToTs } from '@temporalio/common/lib/time';
import { DOCKFLOW_SEARCH_ATTRIBUTES } from './search-attributes';

type OperatorService = temporal.api.operatorservice.v1.OperatorService;
type WorkflowService = temporal.api.workflowservice.v1.WorkflowService;
const KEYWORD = temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD;

export interface SetupResult {
  namespace: string;
  added: string[];
  present: string[];
}

export class SearchAttributesMissing extends Error {}

/** The attributes dockflow needs that the namespace lacks (or has with another type: an error). */
export async function missingSearchAttributes(operator: OperatorService, namespace: string): Promise<{ missing: string[]; present: string[] }> {
  const { customAttributes } = await operator.listSearchAttributes({ namespace });
  const missing: string[] = [];
  const present: string[] = [];
  for (const key of DOCKFLOW_SEARCH_ATTRIBUTES) {
    const type = customAttributes?.[key.name];
    if (type === undefined || type === null) missing.push(key.name);
    else if (type !== KEYWORD) {
      throw new Error(`search attribute ${key.name} exists in namespace "${namespace}" with type ${temporal.api.enums.v1.IndexedValueType[type]}; dockflow needs Keyword (remove it or use another namespace)`);
    } else present.push(key.name);
  }
  return { missing, present };
}

/**
 * `notFoundGraceMs`: how long to retry while the operator API says the
 * namespace does not exist (one created a moment ago reaches every part of
 * the server within seconds).
 */
export async function registerSearchAttributes(operator: OperatorService, namespace: string, notFoundGraceMs = 0): Promise<SetupResult> {
  const deadline = Date.now() + notFoundGraceMs;
  for (;;) {
    try {
      return await registerOnce(operator, namespace);
    } catch (err) {
      if ((err as { code?: number }).code !== GRPC_NOT_FOUND || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}

async function registerOnce(operator: OperatorService, namespace: string): Promise<SetupResult> {
  const { missing, present } = await missingSearchAttributes(operator, namespace);
  if (missing.length > 0) {
    await operator.addSearchAttributes({ namespace, searchAttributes: Object.fromEntries(missing.map((name) => [name, KEYWORD])) });
  }
  return { namespace, added: missing, present };
}

/**
 * The worker's check: register what is missing; when the cluster refuses
 * (no operator permission), stop with the command that fixes it, because a
 * workflow setting an unknown attribute would fail its task forever.
 */
export async function ensureSearchAttributes(operator: OperatorService, namespace: string, notFoundGraceMs = 0): Promise<SetupResult> {
  try {
    return await registerSearchAttributes(operator, namespace, notFoundGraceMs);
  } catch (err) {
    throw new SearchAttributesMissing(
      `the namespace "${namespace}" lacks dockflow's search attributes (${DOCKFLOW_SEARCH_ATTRIBUTES.map((k) => k.name).join(', ')}) and this worker could not register them: ${(err as Error).message}. Run \`dockflow setup\` with an account allowed to, then start the worker again.`,
    );
  }
}

/** How long the operator API may still answer "not found" for a namespace just created. */
export const NEW_NAMESPACE_GRACE_MS = 30_000;

/** How long a namespace dockflow creates keeps closed workflows' histories. */
export const NAMESPACE_RETENTION_DAYS = 7;

/**
 * A fresh cluster (Temporal server on PostgreSQL, docker-compose.temporal.yml)
 * has no namespace but the system's own. Create the one dockflow is told to
 * use, and wait until the frontend serves it (its namespace cache refreshes
 * every few seconds), so the first poll does not fail. Returns whether it was
 * created. An existing namespace is left as it is.
 */
export async function ensureNamespace(workflowService: WorkflowService, namespace: string, timeoutMs = 60_000): Promise<boolean> {
  if (await namespaceExists(workflowService, namespace)) return false;
  try {
    await workflowService.registerNamespace({
      namespace,
      description: 'created by dockflow',
      workflowExecutionRetentionPeriod: msToTs(`${NAMESPACE_RETENTION_DAYS} days`),
    });
  } catch (err) {
    // Another worker created it first: as good as ours.
    if ((err as { code?: number }).code !== GRPC_ALREADY_EXISTS) throw err;
  }
  const deadline = Date.now() + timeoutMs;
  while (!(await namespaceExists(workflowService, namespace))) {
    if (Date.now() > deadline) throw new Error(`namespace "${namespace}" was created but is not served after ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 500));
  }
  return true;
}

const GRPC_ALREADY_EXISTS = 6;
const GRPC_NOT_FOUND = 5;

async function namespaceExists(workflowService: WorkflowService, namespace: string): Promise<boolean> {
  try {
    await workflowService.describeNamespace({ namespace });
    return true;
  } catch (err) {
    if ((err as { code?: number }).code === GRPC_NOT_FOUND) return false;
    throw err;
  }
}
