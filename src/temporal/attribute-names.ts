/**
 * The names of dockflow's search attributes, without the SDK: what
 * `dockflow ps` puts in its visibility queries when it reads Temporal
 * without loading the SDK (src/client/light-temporal.ts). The typed keys
 * workflows and the SDK client use are built from them (./search-attributes.ts).
 * Imported by workflow code: keep it free of imports.
 */
export const PROJECT_ATTRIBUTE_NAME = 'DockflowProject';
export const OPERATION_ATTRIBUTE_NAME = 'DockflowOperation';
