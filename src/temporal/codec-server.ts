/**
 * The codec server the Temporal UI calls to show encrypted payloads in clear
 * (UI → Settings → Codec Server, or TEMPORAL_CODEC_ENDPOINT): POST /encode and
 * POST /decode with {"payloads": [{"metadata": {k: base64}, "data": base64}]},
 * answered in the same shape. CORS lets only the configured UI origins call
 * it from a browser. With a token, every request needs `Authorization: Bearer
 * <token>` (a proxy or a UI that passes its users' access token can send
 * one); without, it must listen on loopback only (the CLI enforces that),
 * where the browser on the same machine is the only caller.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { Payload, PayloadCodec } from '@temporalio/common';

interface JsonPayload {
  metadata?: Record<string, string>;
  data?: string;
}

const fromJson = (p: JsonPayload): Payload => ({
  metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')])),
  data: Buffer.from(p.data ?? '', 'base64'),
});

const toJson = (p: Payload): JsonPayload => ({
  metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
  data: Buffer.from(p.data ?? []).toString('base64'),
});

export interface CodecServerOptions {
  codec: PayloadCodec;
  /** Required bearer token; none: no authentication (loopback only). */
  token?: string;
  /** The Temporal UI's origin(s), e.g. http://127.0.0.1:8233. */
  allowOrigin: string | string[];
}

/**
 * The bearer token: from `--token-file` (its content, without the trailing
 * newline) or DOCKFLOW_CODEC_TOKEN, never from the command line, where every
 * user of the machine can read it. Undefined: none configured.
 */
export function readCodecToken(tokenFile: string | undefined, env: Record<string, string | undefined>): string | undefined {
  if (tokenFile !== undefined) {
    let text: string;
    try {
      text = fs.readFileSync(tokenFile, 'utf8');
    } catch (err) {
      throw new Error(`--token-file ${tokenFile} cannot be read: ${(err as Error).message}`);
    }
    const token = text.replace(/\r?\n$/, '');
    if (!token.trim()) throw new Error(`--token-file ${tokenFile} is empty`);
    return token;
  }
  return env.DOCKFLOW_CODEC_TOKEN || undefined;
}

/** Compares in constant time (over digests, so the length does not leak either). */
function sameSecret(given: string | undefined, expected: string): boolean {
  if (given === undefined) return false;
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(given), digest(expected));
}

export function createCodecServer({ codec, token, allowOrigin }: CodecServerOptions): http.Server {
  const origins = Array.isArray(allowOrigin) ? allowOrigin : [allowOrigin];
  return http.createServer((req, res) => {
    // Echo the caller's origin only when it is one of the UI's.
    const origin = req.headers.origin && origins.includes(req.headers.origin) ? req.headers.origin : origins[0];
    res.setHeader('Access-Control-Allow-Origin', origin);
    res.setHeader('Access-Control-Allow-Methods', 'POST, OPTIONS');
    res.setHeader('Access-Control-Allow-Headers', 'Content-Type, Authorization, X-Namespace');
    res.setHeader('Access-Control-Allow-Credentials', 'true');
    res.setHeader('Vary', 'Origin');
    if (req.method === 'OPTIONS') {
      res.writeHead(204).end();
      return;
    }
    const route = req.url === '/encode' ? 'encode' : req.url === '/decode' ? 'decode' : undefined;
    if (req.method !== 'POST' || !route) {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('POST /encode or /decode\n');
      return;
    }
    if (token !== undefined && !sameSecret(req.headers.authorization, `Bearer ${token}`)) {
      res.writeHead(401, { 'Content-Type': 'text/plain' }).end('missing or wrong bearer token\n');
      return;
    }
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      void (async () => {
        try {
          const { payloads } = JSON.parse(body) as { payloads: JsonPayload[] };
          const out = await codec[route](payloads.map(fromJson));
          res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ payloads: out.map(toJson) }));
        } catch (err) {
          res.writeHead(400, { 'Content-Type': 'text/plain' }).end(`${(err as Error).message}\n`);
        }
      })();
    });
  });
}
