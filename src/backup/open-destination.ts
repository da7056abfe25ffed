/**
 * Which destination a backup names: a local directory or an S3-compatible
 * bucket. Apart from destination.ts (the interface, the local directory)
 * and s3-destination.ts, both of which it imports, so neither imports the
 * other. Node-side: activities use it.
 */
import { isS3Url } from '../model/s3-url';
import { DestinationError, LocalDirectoryDestination, type BackupDestination } from './destination';
import { S3Destination } from './s3-destination';

/**
 * The destination a workflow names: absent → the worker's default directory;
 * an absolute path or file:// URL → that directory on the worker's host;
 * `s3://bucket/prefix` → that bucket, reached with the worker's own S3
 * settings and credentials (src/backup/s3-destination.ts).
 */
export function openDestination(destination: string | undefined, defaultDir: string, env: Record<string, string | undefined> = process.env): BackupDestination {
  if (destination === undefined || destination === '') return new LocalDirectoryDestination(defaultDir);
  if (destination.startsWith('file://')) return new LocalDirectoryDestination(decodeURIComponent(destination.slice('file://'.length)));
  if (isS3Url(destination)) return S3Destination.fromUrl(destination, env);
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(destination)) {
    throw new DestinationError(`backup destination ${destination}: the supported destinations are a local directory (an absolute path or file:// URL) and s3://bucket/prefix`);
  }
  return new LocalDirectoryDestination(destination);
}
