// Preloaded into a `dockflow` process by bench/cli-timeline.ts (node -r): writes
// timestamped lines (ms since the epoch, sub-ms) to DOCKFLOW_TRACE_FILE for the
// process's start, the first load of the heavy modules, each HTTP/2 (gRPC)
// call to Temporal from request to answer, and the exit. Plain CommonJS: it
// runs before anything else, in the compiled CLI's own process.
'use strict';
const fs = require('node:fs');
const http2 = require('node:http2');
const Module = require('node:module');

const file = process.env.DOCKFLOW_TRACE_FILE;
const now = () => performance.timeOrigin + performance.now();
const log = (what, at = now()) => fs.appendFileSync(file, `${at.toFixed(1)} ${what}\n`);
log('process start (time origin)', performance.timeOrigin);
log('preload ran');

// First load of these packages and dockflow modules: when asked, when returned (nested loads included).
const WATCHED = ['@temporalio/client', '@temporalio/proto', '@grpc/grpc-js', 'zod', 'yaml', 'commander'];
const seen = new Set();
const originalLoad = Module._load;
Module._load = function load(request) {
  const name = WATCHED.find((w) => request === w) ?? (/(^|\/)(cli\/main|compose\/index|compose|client\/light-temporal|client\/operations|cli\/light-operation)(\.js)?$/.test(request) && !request.startsWith('node:') ? request : undefined);
  if (!name || seen.has(name)) return originalLoad.apply(this, arguments);
  seen.add(name);
  log(`load ${name} begin`);
  try {
    return originalLoad.apply(this, arguments);
  } finally {
    log(`load ${name} end`);
  }
};

const originalConnect = http2.connect;
http2.connect = function connect(authority, ...rest) {
  log(`http2 connect ${authority}`);
  const session = originalConnect.call(this, authority, ...rest);
  session.once('connect', () => log('http2 connected'));
  const originalRequest = session.request;
  session.request = function request(headers, ...more) {
    const method = String(headers[':path'] ?? '').split('/').at(-1);
    log(`call ${method}`);
    const stream = originalRequest.call(this, headers, ...more);
    stream.once('close', () => log(`done ${method}`));
    return stream;
  };
  return session;
};

process.on('exit', (code) => log(`exit ${code}`));
