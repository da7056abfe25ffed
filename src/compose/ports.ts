/**
 * Port syntaxes, as Docker's `-p` parser reads them:
 *
 *   "8080"                      container port, host port chosen by Docker
 *   "8000:8000"                 host:container
 *   "127.0.0.1:8000:8000"       ip:host:container
 *   "127.0.0.1::8000"           ip, any host port
 *   "[::1]:80:80", "::1:80:80"  IPv6 address (brackets optional)
 *   "8000-8010:8000-8010"       equal ranges: one mapping per port
 *   "8000-8010:80"              host range for one container port: Docker picks one
 *   "53:53/udp"                 protocol tcp (default), udp or sctp
 *   8080                        a number is a container port
 *
 * and the long syntax {target, published, host_ip, protocol, mode}.
 */
import { isIP } from 'node:net';
import type { PortSpec } from '../model/spec';

export interface LongPort {
  target: number;
  published?: string | number;
  host_ip?: string;
  protocol?: 'tcp' | 'udp' | 'sctp';
  mode?: 'host' | 'ingress';
}

const PROTOCOLS = ['tcp', 'udp', 'sctp'];

function range(text: string, whole: string, min: number): [number, number] {
  const m = /^(\d+)(?:-(\d+))?$/.exec(text);
  if (!m) throw new Error(`invalid port "${whole}"`);
  const from = Number(m[1]);
  const to = m[2] === undefined ? from : Number(m[2]);
  if (from < min || to > 65535 || to < from) throw new Error(`invalid port "${whole}": ports are ${min}-65535${m[2] ? ', ranges go upwards' : ''}`);
  return [from, to];
}

function hostIp(ip: string, whole: string): string {
  const bare = ip.startsWith('[') && ip.endsWith(']') ? ip.slice(1, -1) : ip;
  if (!isIP(bare)) throw new Error(`invalid port "${whole}": "${ip}" is not an IP address`);
  return bare;
}

/** One PortSpec per container port; throws Error(`invalid port "..."`) on nonsense. */
export function parsePort(port: string | number | LongPort): PortSpec[] {
  if (typeof port === 'object') return [longPort(port)];
  const whole = String(port);
  const slash = whole.lastIndexOf('/');
  const protocol = slash >= 0 ? whole.slice(slash + 1) : 'tcp';
  if (!PROTOCOLS.includes(protocol)) throw new Error(`invalid port "${whole}": protocol "${protocol}" is not tcp, udp or sctp`);
  const parts = (slash >= 0 ? whole.slice(0, slash) : whole).split(':');
  const containerPart = parts[parts.length - 1];
  const hostPart = parts.length >= 2 ? parts[parts.length - 2] : '';
  const ipPart = parts.length >= 3 ? parts.slice(0, -2).join(':') : '';
  const [from, to] = range(containerPart, whole, 1);
  const ip = ipPart ? hostIp(ipPart, whole) : undefined;
  const base = { ...(ip ? { hostIp: ip } : {}), protocol: protocol as PortSpec['protocol'] };
  if (!hostPart) return ports(from, to).map((target) => ({ target, ...base }));

  const [hostFrom, hostTo] = range(hostPart, whole, 0);
  if (from === to) return [{ target: from, published: hostFrom === hostTo ? String(hostFrom) : `${hostFrom}-${hostTo}`, ...base }];
  if (hostTo - hostFrom !== to - from) throw new Error(`invalid port "${whole}": the host and container ranges differ in size`);
  return ports(from, to).map((target, i) => ({ target, published: String(hostFrom + i), ...base }));
}

function ports(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

function longPort(port: LongPort): PortSpec {
  const whole = JSON.stringify(port);
  if (!Number.isInteger(port.target) || port.target < 1 || port.target > 65535) throw new Error(`invalid port ${whole}: target must be 1-65535`);
  let published: string | undefined;
  if (port.published !== undefined && port.published !== '') {
    const [from, to] = range(String(port.published), String(port.published), 0);
    published = from === to ? String(from) : `${from}-${to}`;
  }
  return {
    target: port.target,
    ...(published !== undefined ? { published } : {}),
    ...(port.host_ip ? { hostIp: hostIp(port.host_ip, whole) } : {}),
    protocol: port.protocol ?? 'tcp',
  };
}

/** `expose:` entries: "3000", "3000-3005", "3000/udp". */
export function checkExpose(value: string | number): string {
  const text = String(value);
  const m = /^(\d+(?:-\d+)?)(?:\/(\w+))?$/.exec(text);
  if (!m || (m[2] !== undefined && !PROTOCOLS.includes(m[2]))) throw new Error(`invalid exposed port "${text}"`);
  range(m[1], text, 1);
  return text;
}
