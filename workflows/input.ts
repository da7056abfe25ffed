/** Workflow inputs are validated first: a bad one fails at once, non-retryable, naming path and problem. */
import { ApplicationFailure } from '@temporalio/workflow';
import type { z } from 'zod';
import { formatZodError } from '../src/model/input';
import { ErrorType } from '../src/errors';

export function parseWorkflowInput<S extends z.ZodType>(schema: S, raw: unknown, operation: string): z.output<S> {
  const parsed = schema.safeParse(raw);
  if (!parsed.success) throw ApplicationFailure.nonRetryable(`invalid ${operation} input:\n${formatZodError(parsed.error)}`, ErrorType.invalidSpec);
  return parsed.data;
}
