/**
 * A TLS front for the Temporal dev server, which serves plain text only
 * (`temporal server start-dev` has no TLS flags): a node:http2 secure server
 * that terminates TLS (and mTLS when asked), checks the API key header, and
 * forwards every gRPC stream to the dev server, headers, body and trailers.
 * It records what each request carried, so a test can see that the API key
 * reached "the server" and which client sent it.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

export interface TestCertificates {
  dir: string;
  /** The CA that signed the server's and the client's certificates. */
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  /** The name in the server certificate (DNS only: 127.0.0.1 does not match it, the override must be used). */
  serverName: string;
}

/** A CA, a server certificate for `temporal.test` and a client certificate, made with openssl. */
export function makeCertificates(): TestCertificates {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dockflow-tls-'));
  const at = (name: string) => path.join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '3650', '-subj', '/CN=dockflow test CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  const sign = (name: string, subject: string, extensions: string) => {
    openssl('req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject);
    fs.writeFileSync(at(`${name}.ext`), extensions);
    openssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.pem`, '-days', '3650', '-extfile', `${name}.ext`);
  };
  sign('server', '/CN=temporal.test', 'subjectAltName=DNS:temporal.test\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n');
  sign('client', '/CN=dockflow-worker', 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n');
  return { dir, ca: at('ca.pem'), serverCert: at('server.pem'), serverKey: at('server.key'), clientCert: at('client.pem'), clientKey: at('client.key'), serverName: 'temporal.test' };
}

export interface SeenRequest {
  method: string;
  authorization?: string;
  /** The SDK's clients (its Node client and the worker's core) send `client-name`; dockflow's light client sends none. */
  clientName?: string;
  /** grpc-js (the SDK's client) and tonic (the worker's core) name themselves here; the light client does not. */
  userAgent?: string;
}

export interface TlsProxy {
  /** 127.0.0.1:<port>. */
  address: string;
  seen: SeenRequest[];
  /** TLS handshakes the proxy refused or that failed (e.g. the client did not trust its certificate). */
  handshakeErrors: string[];
  close(): Promise<void>;
}

const HOP_HEADERS = new Set([':scheme', ':authority', 'connection', 'keep-alive', 'transfer-encoding', 'upgrade']);

function plainHeaders(headers: http2.IncomingHttpHeaders): http2.OutgoingHttpHeaders {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => !HOP_HEADERS.has(name)));
}

/**
 * Listens on 127.0.0.1 with the server certificate; with `clientCa`, a client
 * certificate signed by it is required (mTLS); with `apiKey`, a request
 * without `authorization: Bearer <apiKey>` is answered UNAUTHENTICATED.
 */
export async function startTlsProxy(upstream: string, certs: TestCertificates, options: { apiKey?: string; requireClientCert?: boolean } = {}): Promise<TlsProxy> {
  const seen: SeenRequest[] = [];
  const handshakeErrors: string[] = [];
  const upstreamSession = http2.connect(`http://${upstream}`);
  upstreamSession.on('error', () => undefined);
  const server = http2.createSecureServer({
    cert: fs.readFileSync(certs.serverCert),
    key: fs.readFileSync(certs.serverKey),
    ...(options.requireClientCert ? { ca: fs.readFileSync(certs.ca), requestCert: true, rejectUnauthorized: true } : {}),
  });
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (s) => {
    sessions.add(s);
    s.on('close', () => sessions.delete(s));
  });
  server.on('tlsClientError', (err) => handshakeErrors.push(err.message));
  server.on('stream', (down, headers) => {
    const authorization = headers.authorization as string | undefined;
    const clientName = headers['client-name'] as string | undefined;
    const userAgent = headers['user-agent'];
    seen.push({
      method: String(headers[':path']).split('/').at(-1) ?? '',
      ...(authorization ? { authorization } : {}),
      ...(clientName ? { clientName } : {}),
      ...(userAgent ? { userAgent } : {}),
    });
    down.on('error', () => undefined);
    if (options.apiKey !== undefined && authorization !== `Bearer ${options.apiKey}`) {
      down.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '16', 'grpc-message': 'the test proxy refuses a request without a valid API key' }, { endStream: true });
      return;
    }
    const up = upstreamSession.request(plainHeaders(headers));
    up.on('error', () => {
      if (!down.closed) down.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
    });
    down.on('close', () => {
      if (!up.closed) up.close(http2.constants.NGHTTP2_CANCEL);
    });
    let trailers: http2.OutgoingHttpHeaders = { 'grpc-status': '14', 'grpc-message': 'test proxy: upstream sent no trailers' };
    up.on('trailers', (t) => (trailers = plainHeaders(t)));
    up.on('response', (responseHeaders) => {
      if (down.closed) return;
      // A trailers-only answer (an error status, no body) ends with its headers.
      if (responseHeaders['grpc-status'] !== undefined) {
        down.respond(plainHeaders(responseHeaders), { endStream: true });
        return;
      }
      down.respond(plainHeaders(responseHeaders), { waitForTrailers: true });
      down.on('wantTrailers', () => down.sendTrailers(trailers));
      up.pipe(down);
    });
    down.pipe(up);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    address: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    handshakeErrors,
    close: () =>
      new Promise<void>((resolve) => {
        upstreamSession.destroy();
        server.close(() => resolve());
        // Open client sessions (a worker's polls) would keep close() waiting.
        for (const s of sessions) s.destroy();
      }),
  };
}
