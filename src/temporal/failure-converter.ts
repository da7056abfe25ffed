/**
 * Loaded by path (the SDK loads failure converters into the workflow sandbox
 * that way) when encryption is on: failure messages and stack traces travel
 * in an encrypted payload instead of in clear text, since an error can quote
 * a value from the stack's environment.
 */
import { DefaultFailureConverter } from '@temporalio/common';

export const failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });
