/**
 * Images: the local image ID of each service's image, built from its context
 * or pulled when missing (or when pull_policy says so).
 */
import type Docker from 'dockerode';
import { ApplicationFailure } from '@temporalio/common';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { StackSpec } from '../../src/model/spec';
import { Label } from '../../src/model/labels';
import { ErrorType } from '../../src/errors';
import { packBuildContext } from '../build-context';
import { heartbeat, imageIdOrUndefined, messageOf } from './shared';

export interface EnsureImageInput {
  spec: StackSpec; // a service slice
  service: string;
  /** Build even when the image exists (`--build`). */
  forceBuild: boolean;
  /** Only look the image up; never build or pull (for --dry-run). */
  lookupOnly: boolean;
}

export function createImageActivities({ docker }: { docker: Docker }) {
  async function followStream(stream: NodeJS.ReadableStream, what: string): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      docker.modem.followProgress(
        stream,
        (err: Error | null, output: { error?: string; errorDetail?: { message?: string } }[]) => {
          if (err) return reject(err);
          const failed = output.find((o) => o.error || o.errorDetail);
          if (failed) return reject(new Error(failed.errorDetail?.message ?? failed.error));
          resolve();
        },
        (event: { status?: string; stream?: string; progress?: string }) => heartbeat({ step: what, status: event.status ?? event.stream?.trim() }),
      );
    });
  }

  async function buildImage(spec: StackSpec, service: string): Promise<void> {
    const s = spec.services[service];
    const build = s.build!;
    if (!fs.existsSync(build.context)) {
      throw ApplicationFailure.nonRetryable(
        `service ${service}: build context ${build.context} does not exist`,
        ErrorType.imageUnavailable,
      );
    }
    if (!fs.existsSync(path.join(build.context, build.dockerfile))) {
      throw ApplicationFailure.nonRetryable(
        `service ${service}: Dockerfile ${build.dockerfile} not found in build context ${build.context}`,
        ErrorType.imageUnavailable,
      );
    }
    let stream: NodeJS.ReadableStream;
    try {
      // The context as Docker's client sends it: what .dockerignore excludes (.env, node_modules...) stays on the host.
      stream = await docker.buildImage(
        packBuildContext(build.context, build.dockerfile),
        {
          t: s.image,
          dockerfile: build.dockerfile,
          ...(build.target ? { target: build.target } : {}),
          buildargs: build.args,
          labels: { ...(build.labels ?? {}), [Label.project]: spec.project, [Label.service]: service },
        },
      );
      await followStream(stream, `build ${s.image}`);
    } catch (err) {
      throw ApplicationFailure.nonRetryable(`service ${service}: building image ${s.image} failed: ${messageOf(err)}`, ErrorType.imageUnavailable);
    }
  }

  async function pullImage(service: string, image: string): Promise<void> {
    try {
      const stream = await docker.pull(image);
      await followStream(stream as NodeJS.ReadableStream, `pull ${image}`);
    } catch (err) {
      const msg = messageOf(err);
      throw ApplicationFailure.create({
        message: `service ${service}: image ${image} is not on this host and pulling it failed: ${msg}`,
        type: ErrorType.imageUnavailable,
        // "not found"/"denied" cannot heal by retrying; network errors might, a few times.
        nonRetryable: /not found|manifest unknown|denied|unauthorized|invalid reference/i.test(msg),
      });
    }
  }

  const imageActivities = {
    /** Returns the local image ID of the service's image, building or pulling it when needed. */
    async ensureImage(input: EnsureImageInput): Promise<string | undefined> {
      const s = input.spec.services[input.service];
      const existing = await imageIdOrUndefined(docker, s.image);
      if (input.lookupOnly) return existing;
      const mustBuild = s.build !== undefined && (input.forceBuild || existing === undefined || s.pullPolicy === 'build');
      if (mustBuild) {
        await buildImage(input.spec, input.service);
      } else if (existing === undefined || s.pullPolicy === 'always') {
        if (s.pullPolicy === 'never') {
          throw ApplicationFailure.nonRetryable(
            `service ${input.service}: image ${s.image} is not on this host and pull_policy is "never"`,
            ErrorType.imageUnavailable,
          );
        }
        await pullImage(input.service, s.image);
      } else {
        return existing;
      }
      const id = await imageIdOrUndefined(docker, s.image);
      if (!id) throw ApplicationFailure.nonRetryable(`service ${input.service}: image ${s.image} missing after build/pull`, ErrorType.imageUnavailable);
      return id;
    },
  };

  return {
    ensureImage: imageActivities.ensureImage,

    /**
     * ensureImage for several services in one activity (in parallel): one step
     * and three history events for a stack's images instead of three per
     * service. Images shared by services are resolved once. A failure names its
     * service; a retry is cheap, since images already present are only inspected.
     */
    async ensureImages(input: Omit<EnsureImageInput, 'service'> & { services: string[] }): Promise<Record<string, string | undefined>> {
      const byImage = new Map<string, Promise<string | undefined>>();
      const ids = await Promise.all(
        input.services.map((service) => {
          const s = input.spec.services[service];
          // Built images are per service (their build contexts differ); pulled ones are shared.
          const key = s.build ? `build:${service}` : `image:${s.image}:${s.pullPolicy ?? ''}`;
          let pending = byImage.get(key);
          if (!pending) {
            pending = imageActivities.ensureImage({ ...input, service });
            byImage.set(key, pending);
          }
          return pending;
        }),
      );
      return Object.fromEntries(input.services.map((service, i) => [service, ids[i]]));
    },

    /** Whether an image ID (e.g. a revision's) is still on the host. */
    async imageExists(id: string): Promise<boolean> {
      return (await imageIdOrUndefined(docker, id)) !== undefined;
    },
  };
}
