/**
 * Compose's container name, in a module of its own without zod: workflow code
 * that needs only the name (the activity summaries every workflow's
 * interceptor computes, src/model/activity-summary.ts) must not load zod,
 * which each workflow execution evaluates again (workflows/index.ts).
 */

/** Compose's container name: `container_name`, else `<project>-<service>-<n>`. */
// The service's two fields by shape, not Pick<ServiceSpec>: spec.ts imports names.ts (ProjectName), which re-exports this.
export function containerName(project: string, service: { name: string; containerName?: string }, number: number): string {
  return service.containerName ?? `${project}-${service.name}-${number}`;
}
