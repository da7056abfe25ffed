/**
 * `s3://bucket/prefix` destinations, as a workflow input names them. Only the
 * place goes into the input (and so into Temporal's history); the endpoint,
 * region and credentials stay on the worker (its environment or the AWS
 * SDK's shared files). A URL that tries to carry credentials, a port, a
 * query, or a prefix with `.`/`..`/empty segments is refused by name.
 *
 * Pure (src/model): workflow input schemas import it.
 */

export interface S3Location {
  bucket: string;
  /** `/`-separated, without leading or trailing `/`; '' for the bucket's root. */
  prefix: string;
}

export const S3_SCHEME = 's3://';

/** S3's bucket naming rule (lowercase letters, digits, `.`, `-`; 3 to 63 characters; no `..`). */
const BUCKET_PATTERN = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const PREFIX_SEGMENT = /^[A-Za-z0-9._-]+$/;

export function isS3Url(destination: string): boolean {
  return destination.toLowerCase().startsWith(S3_SCHEME);
}

/** The bucket and prefix of `s3://bucket[/prefix]`, or an error message naming what is wrong. */
export function parseS3Url(destination: string): S3Location | { problem: string } {
  const rest = destination.slice(S3_SCHEME.length);
  const slash = rest.indexOf('/');
  const bucket = slash < 0 ? rest : rest.slice(0, slash);
  const prefix = (slash < 0 ? '' : rest.slice(slash + 1)).replace(/\/$/, '');
  if (bucket.includes('@')) {
    return {
      problem:
        'credentials never go in the destination (it is stored in Temporal\'s history): give the worker AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or the AWS SDK\'s credentials file',
    };
  }
  if (/[?#]/.test(rest)) return { problem: 'a query or fragment is not allowed: s3://bucket/prefix' };
  if (bucket.includes(':')) return { problem: 'the endpoint is not part of the destination: set AWS_ENDPOINT_URL_S3 (or AWS_ENDPOINT_URL) on the worker' };
  if (!BUCKET_PATTERN.test(bucket) || bucket.includes('..')) {
    return { problem: `${JSON.stringify(bucket)} is not an S3 bucket name (3 to 63 lowercase letters, digits, "." and "-")` };
  }
  if (prefix !== '') {
    for (const segment of prefix.split('/')) {
      if (!PREFIX_SEGMENT.test(segment) || segment === '.' || segment === '..') {
        return { problem: `the prefix ${JSON.stringify(prefix)} has a segment ${JSON.stringify(segment)}: segments are letters, digits, ".", "_" and "-", not "." or ".." or empty` };
      }
    }
  }
  return { bucket, prefix };
}

/** Why a destination string cannot be used, before anything starts; undefined when it can. */
export function destinationProblem(destination: string): string | undefined {
  if (!isS3Url(destination)) return undefined;
  const parsed = parseS3Url(destination);
  return 'problem' in parsed ? parsed.problem : undefined;
}
