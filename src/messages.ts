/**
 * Queries shared by workflows and clients. Defined once so the CLI and the
 * workflow can never disagree on a name or a shape.
 */
import { defineQuery } from '@temporalio/workflow';

export type StepState = 'pending' | 'running' | 'done' | 'failed';

export interface ProgressStep {
  id: number;
  title: string;
  state: StepState;
  /** The service and container the step acts on, when it acts on one. */
  service?: string;
  container?: string;
  /** Workflow time in ms since the epoch. */
  startedAt?: number;
  finishedAt?: number;
  detail?: string;
}

export interface Progress {
  operation: string;
  project: string;
  phase: string;
  steps: ProgressStep[];
}

export const progressQuery = defineQuery<Progress>('progress');

/** A registered host's registration (workflows/host-registry.ts). */
export const hostRegistrationQuery = defineQuery<import('./model/hosts').HostRegistration>('registration');
