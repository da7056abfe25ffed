/**
 * Search attributes every dockflow operation carries, so the Temporal UI can
 * list "all operations on project shop" (`DockflowProject = "shop"`) or "every
 * backup" (`DockflowOperation = "backup"`).
 *
 * A namespace must know an attribute before a workflow may set it; otherwise
 * the workflow task fails over and over. So the embedded dev server registers
 * them at start (`devServerSearchAttributeArgs`), `dockflow setup` registers
 * them on an existing cluster, and the worker checks at start and refuses to
 * run with a message naming `dockflow setup` when it cannot register them.
 *
 * This module is imported by workflow code: keep it free of Node APIs.
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { OPERATION_ATTRIBUTE_NAME, PROJECT_ATTRIBUTE_NAME } from './attribute-names';

export const PROJECT_ATTRIBUTE = defineSearchAttributeKey(PROJECT_ATTRIBUTE_NAME, SearchAttributeType.KEYWORD);
export const OPERATION_ATTRIBUTE = defineSearchAttributeKey(OPERATION_ATTRIBUTE_NAME, SearchAttributeType.KEYWORD);

export const DOCKFLOW_SEARCH_ATTRIBUTES = [PROJECT_ATTRIBUTE, OPERATION_ATTRIBUTE] as const;

/** `temporal server start-dev --search-attribute Name=Type` for each attribute. */
export function devServerSearchAttributeArgs(): string[] {
  return DOCKFLOW_SEARCH_ATTRIBUTES.flatMap((key) => ['--search-attribute', `${key.name}=Keyword`]);
}
