/**
 * Namespace setup: register dockflow's search attributes (`dockflow setup`,
 * and the worker's check at start). Idempotent: attributes already present
 * with the right type are left alone; one present with another type is an
 * error naming it, since changing a type is not something to do silently.
 */
import { temporal } from '@temporalio/proto';
import { DOCKFLOW_SEARCH_ATTRIBUTES } from './search-attributes';

type OperatorService = temporal.api.operatorservice.v1.OperatorService;
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

export async function registerSearchAttributes(operator: OperatorService, namespace: string): Promise<SetupResult> {
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
export async function ensureSearchAttributes(operator: OperatorService, namespace: string): Promise<SetupResult> {
  try {
    return await registerSearchAttributes(operator, namespace);
  } catch (err) {
    throw new SearchAttributesMissing(
      `the namespace "${namespace}" lacks dockflow's search attributes (${DOCKFLOW_SEARCH_ATTRIBUTES.map((k) => k.name).join(', ')}) and this worker could not register them: ${(err as Error).message}. Run \`dockflow setup\` with an account allowed to, then start the worker again.`,
    );
  }
}
