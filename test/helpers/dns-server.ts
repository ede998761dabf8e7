import { createSocket, type Socket } from 'node:dgram';
import { isIP } from 'node:net';

/**
 * A small authoritative DNS server on loopback UDP for tests (RFC 1035 §4.1): answers A and AAAA
 * queries from a map the test changes at will (e.g. to rebind a name); unknown names get NXDOMAIN.
 * Records have TTL 0, so every lookup asks again.
 */
export class TestDnsServer {
  readonly records = new Map<string, string[]>();
  /** TXT records by name: each value one record (split into 255-byte character-strings). */
  readonly txt = new Map<string, string[]>();
  /** Names whose queries are answered SERVFAIL (a resolver that is down). */
  readonly failing = new Set<string>();
  private socket: Socket | undefined;
  port = 0;

  async start(): Promise<void> {
    const socket = createSocket('udp4');
    socket.on('message', (msg, rinfo) => {
      const reply = this.answer(msg);
      if (reply) socket.send(reply, rinfo.port, rinfo.address);
    });
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    this.socket = socket;
    this.port = socket.address().port;
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => (this.socket ? this.socket.close(() => resolve()) : resolve()));
  }

  private answer(query: Buffer): Buffer | undefined {
    if (query.length < 12) return undefined;
    // The question: length-prefixed labels, then QTYPE and QCLASS.
    const labels: string[] = [];
    let offset = 12;
    while (offset < query.length && query[offset]! > 0) {
      const len = query[offset]!;
      labels.push(query.subarray(offset + 1, offset + 1 + len).toString('ascii'));
      offset += len + 1;
    }
    const questionEnd = offset + 5;
    if (questionEnd > query.length) return undefined;
    const qtype = query.readUInt16BE(offset + 1);
    const name = labels.join('.').toLowerCase();
    const known = this.records.get(name) ?? this.txt.get(name);
    const family = qtype === 1 ? 4 : qtype === 28 ? 6 : 0;
    const addresses = (this.records.get(name) ?? []).filter((a) => isIP(a) === family);
    const rdatas =
      qtype === 16
        ? (this.txt.get(name) ?? []).map(txtRdata)
        : addresses.map((address) => (family === 4 ? Buffer.from(address.split('.').map(Number)) : ipv6Bytes(address)));
    const answers = rdatas.map((rdata) => {
      const rr = Buffer.alloc(12);
      rr.writeUInt16BE(0xc00c, 0); // a pointer to the question's name
      rr.writeUInt16BE(qtype, 2);
      rr.writeUInt16BE(1, 4); // IN
      rr.writeUInt32BE(0, 6); // TTL 0
      rr.writeUInt16BE(rdata.length, 10);
      return Buffer.concat([rr, rdata]);
    });
    const header = Buffer.alloc(12);
    query.copy(header, 0, 0, 2); // id
    // response, RD+RA, and NOERROR, NXDOMAIN or SERVFAIL
    header.writeUInt16BE(this.failing.has(name) ? 0x8182 : known ? 0x8180 : 0x8183, 2);
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(this.failing.has(name) ? 0 : answers.length, 6);
    return Buffer.concat([header, query.subarray(12, questionEnd), ...(this.failing.has(name) ? [] : answers)]);
  }
}

/** RFC 1035 §3.3.14: one or more length-prefixed character-strings. */
function txtRdata(value: string): Buffer {
  const bytes = Buffer.from(value, 'utf8');
  const parts: Buffer[] = [];
  for (let i = 0; i === 0 || i < bytes.length; i += 255) {
    const chunk = bytes.subarray(i, i + 255);
    parts.push(Buffer.from([chunk.length]), chunk);
  }
  return Buffer.concat(parts);
}

function ipv6Bytes(address: string): Buffer {
  const [head, tail] = address.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g || '0', 16), i * 2));
  return out;
}
