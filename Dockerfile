# The dockflow worker image. NODE_IMAGE defaults to node:22-slim (glibc: the
# Temporal SDK's native core has no musl build, so Alpine images do not
# work); the test bed builds it on dockflow-local/node:20 instead.
ARG NODE_IMAGE=node:22-slim
FROM ${NODE_IMAGE} AS deps
# Certificates (PEM) of a TLS-inspecting proxy between this build and the
# npm registry, trusted by npm in this stage only: the final image never
# sees them. Empty: the image's own trust store.
ARG NPM_CA_PEM=
WORKDIR /app
COPY package.json package-lock.json ./
# npm install runs the build (prepare); with no sources yet it only says so.
COPY scripts/build.js ./scripts/
COPY bin/build-stamp.js ./bin/
RUN if [ -n "$NPM_CA_PEM" ]; then printf '%s\n' "$NPM_CA_PEM" > /tmp/npm-ca.pem; export NODE_EXTRA_CA_CERTS=/tmp/npm-ca.pem; fi; \
    npm install --omit=dev --no-audit --no-fund

FROM ${NODE_IMAGE}
WORKDIR /app
ENV NODE_ENV=production
COPY --from=deps /app/node_modules ./node_modules
COPY package.json tsconfig.json ./
COPY bin ./bin
COPY src ./src
COPY workflows ./workflows
COPY activities ./activities
COPY workers ./workers
COPY scripts/build.js ./scripts/
# Compiled JavaScript in dist/, which bin/dockflow.js runs: no TypeScript compiled at each start.
RUN node scripts/build.js
CMD ["node", "bin/dockflow.js", "worker"]
