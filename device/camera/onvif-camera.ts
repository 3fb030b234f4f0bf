/**
 * An ONVIF network camera, for snapshots.
 *
 * init() runs node-onvif's OnvifDevice.init() (GetSystemDateAndTime,
 * GetCapabilities, GetDeviceInformation, GetProfiles, GetStreamUri,
 * GetSnapshotUri; SOAP with a WS-Security UsernameToken digest) on a fresh
 * OnvifDevice each time, since a second init() on the same one appends the
 * profiles again. node-onvif's requests time out after 3 s each and cannot be
 * cancelled, so init() also has its own deadline and honours an AbortSignal.
 *
 * snapshot() fetches the snapshot URI itself with node:http and the Digest
 * client below rather than node-onvif's fetchSnapshot(), which passes the
 * credentials as `auth` to http.request, so Node sends them as Basic
 * (base64 cleartext) on the first request before the Digest challenge; has
 * no timeout (a camera that accepts and never answers stalls it for ever);
 * keeps its Digest state in a module-wide singleton shared by all cameras;
 * cuts header values at '=' (base64 nonces) and at commas inside quotes; and
 * asks for a new challenge on every frame. No Digest library is added:
 * package.json is frozen for this change, and the client side of RFC 7616
 * that cameras need (MD5 or SHA-256, optionally -sess, qop=auth or none) is
 * the sixty lines at the end of this file.
 *
 * Discovery (WS-Discovery over UDP multicast) is opt-in: discoverCameras().
 */
import http from 'node:http';
import https from 'node:https';
import { createHash, randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { DeviceError, type CameraErrorCode } from '../errors.js';

/** What this driver uses of node-onvif 0.1.7, which ships no types. */
interface NodeOnvifProfile {
  token: string;
  name: string;
  snapshot: string;
  stream: { udp: string; http: string; rtsp: string };
  video: { encoder: { resolution: { width: number; height: number }; encoding: string } | null };
}
interface NodeOnvifDevice {
  init(): Promise<Record<string, string> | null>;
  getProfileList(): NodeOnvifProfile[];
}
interface NodeOnvifProbe {
  urn: string;
  name: string;
  hardware: string;
  location: string;
  xaddrs: string[];
}
interface NodeOnvif {
  OnvifDevice: new (params: { xaddr: string; user?: string; pass?: string }) => NodeOnvifDevice;
  startProbe(): Promise<NodeOnvifProbe[]>;
  _DISCOVERY_WAIT: number;
}
const onvif = createRequire(import.meta.url)('node-onvif') as NodeOnvif;

export interface OnvifCameraOptions {
  /** Device service address, e.g. http://192.168.1.64/onvif/device_service. */
  xaddr: string;
  user?: string;
  pass?: string;
  /** Media profile token; the camera's first profile when absent. */
  profile?: string;
  /** Deadline of one snapshot HTTP request, ms (default 3000). */
  requestTimeoutMs?: number;
  /** Deadline of init(), ms (default 5000: above node-onvif's 3 s per call, below two of them). */
  initTimeoutMs?: number;
  /** Larger snapshots are refused (default 8 MiB). */
  maxSnapshotBytes?: number;
}

export interface CameraDescription {
  manufacturer: string;
  model: string;
  firmwareVersion: string;
  serialNumber: string;
  hardwareId: string;
  profile: { token: string; name: string; width?: number; height?: number; encoding?: string };
  snapshotUri: string;
  streamUri?: string;
}

export class OnvifCamera {
  private described: CameraDescription | null = null;
  private user: string;
  private pass: string;
  private challenge: DigestChallenge | null = null;
  private agent: http.Agent | null = null;
  private readonly requestTimeoutMs: number;
  private readonly initTimeoutMs: number;
  private readonly maxBytes: number;

  constructor(private readonly options: OnvifCameraOptions) {
    new URL(options.xaddr); // throws on a malformed address
    this.user = options.user ?? '';
    this.pass = options.pass ?? '';
    this.requestTimeoutMs = options.requestTimeoutMs ?? 3000;
    this.initTimeoutMs = options.initTimeoutMs ?? 5000;
    this.maxBytes = options.maxSnapshotBytes ?? 8 * 1024 * 1024;
  }

  /** True once init() has found a snapshot URI (and until the credentials change or it goes away). */
  get ready(): boolean {
    return this.described !== null;
  }
  get description(): CameraDescription | null {
    return this.described;
  }

  /** New credentials: the next snapshot needs init() again. */
  setAuth(user: string, pass: string): void {
    this.user = user;
    this.pass = pass;
    this.described = null;
    this.challenge = null;
  }

  async init(signal?: AbortSignal): Promise<CameraDescription> {
    const device = new onvif.OnvifDevice({ xaddr: this.options.xaddr, user: this.user, pass: this.pass });
    const info = await withDeadline(device.init(), this.initTimeoutMs, signal, 'ONVIF init').catch((err: unknown) => {
      throw err instanceof DeviceError ? err : classifyOnvifError(err);
    });
    const profiles = device.getProfileList();
    const wanted = this.options.profile;
    const profile = wanted ? profiles.find((p) => p.token === wanted) : profiles[0];
    if (!profile) throw new DeviceError('bad-response', wanted ? `camera has no media profile '${wanted}'` : 'camera has no media profile');
    if (!profile.snapshot) throw new DeviceError('bad-response', `profile '${profile.token}' has no snapshot URI`);
    const encoder = profile.video.encoder;
    this.challenge = null;
    this.described = {
      manufacturer: info?.Manufacturer ?? '',
      model: info?.Model ?? '',
      firmwareVersion: info?.FirmwareVersion ?? '',
      serialNumber: info?.SerialNumber ?? '',
      hardwareId: info?.HardwareId ?? '',
      profile: {
        token: profile.token,
        name: profile.name,
        ...(encoder && { width: encoder.resolution.width, height: encoder.resolution.height, encoding: encoder.encoding }),
      },
      snapshotUri: profile.snapshot,
      ...(profile.stream.rtsp && { streamUri: profile.stream.rtsp }),
    };
    return this.described;
  }

  /** One JPEG from the snapshot URI, with Digest authentication when the camera asks for it. */
  async snapshot(signal?: AbortSignal): Promise<Buffer> {
    if (!this.described) throw new DeviceError('not-initialised', 'camera: init() has not found a snapshot URI yet');
    const url = new URL(this.described.snapshotUri);
    const uri = url.pathname + url.search;
    // Reuse the last challenge's nonce with the next nc (RFC 7616 §3.4): one round trip a frame.
    let res = await this.get(url, this.challenge && this.authorization(this.challenge, 'GET', uri), signal);
    if (res.status === 401) {
      const challenge = pickDigestChallenge(res.challenge);
      if (!challenge) throw new DeviceError('unauthorized', 'camera refused the snapshot and offers no Digest authentication');
      if (!this.user) throw new DeviceError('unauthorized', 'camera wants credentials for snapshots and none are configured');
      this.challenge = challenge;
      res = await this.get(url, this.authorization(challenge, 'GET', uri), signal);
      if (res.status === 401) {
        this.challenge = null;
        throw new DeviceError('unauthorized', 'camera refused the credentials (HTTP 401)');
      }
    }
    if (res.status === 404) this.described = null; // the URI may have changed: init() again
    if (res.status !== 200) throw new DeviceError('unreachable', `snapshot: HTTP ${res.status}`);
    if (!/^image\//i.test(res.contentType || 'image/jpeg')) {
      throw new DeviceError('bad-response', `snapshot: content-type '${res.contentType}' is not an image`);
    }
    return res.body;
  }

  /** Closes idle keep-alive connections. */
  close(): void {
    this.agent?.destroy();
    this.agent = null;
  }

  /** One GET; a kept-alive socket the camera closed meanwhile (ECONNRESET on reuse) is retried once on a new one. */
  private get(url: URL, authorization: string | null, signal?: AbortSignal, retried = false): Promise<Response> {
    const secure = url.protocol === 'https:';
    this.agent ??= secure ? new https.Agent({ keepAlive: true }) : new http.Agent({ keepAlive: true });
    const headers: http.OutgoingHttpHeaders = { accept: 'image/jpeg' };
    if (authorization) headers.authorization = authorization;
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(new DeviceError('aborted', 'snapshot aborted'));
      let settled = false;
      const fail = (err: DeviceError) => {
        if (settled) return;
        settled = true;
        cleanup();
        req.destroy();
        reject(err);
      };
      const onAbort = () => fail(new DeviceError('aborted', 'snapshot aborted'));
      const timer = setTimeout(() => fail(new DeviceError('timeout', `snapshot: no answer within ${this.requestTimeoutMs} ms`)), this.requestTimeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      const req = (secure ? https : http).request(url, { method: 'GET', headers, agent: this.agent! }, (res) => {
        const chunks: Buffer[] = [];
        let length = 0;
        res.on('data', (chunk: Buffer) => {
          length += chunk.length;
          if (length > this.maxBytes) fail(new DeviceError('bad-response', `snapshot larger than ${this.maxBytes} bytes`));
          else chunks.push(chunk);
        });
        res.on('error', (err) => fail(classifySocketError(err)));
        res.on('end', () => {
          if (settled) return;
          settled = true;
          cleanup();
          resolve({
            status: res.statusCode ?? 0,
            contentType: res.headers['content-type'] ?? '',
            challenge: res.headers['www-authenticate'] ?? '',
            body: Buffer.concat(chunks),
          });
        });
      });
      req.on('error', (err: Error & { code?: string }) => {
        if (!settled && req.reusedSocket && err.code === 'ECONNRESET' && !retried) {
          settled = true;
          cleanup();
          resolve(this.get(url, authorization, signal, true));
        } else fail(classifySocketError(err));
      });
      req.end();
    });
  }

  private authorization(c: DigestChallenge, method: string, uri: string): string {
    return digestAuthorization(c, this.user, this.pass, method, uri);
  }
}

interface Response {
  status: number;
  contentType: string;
  challenge: string;
  body: Buffer;
}

export interface DiscoveredCamera {
  urn: string;
  name: string;
  hardware: string;
  location: string;
  xaddrs: string[];
}

let probing: Promise<DiscoveredCamera[]> | null = null;

/**
 * WS-Discovery Probe by UDP multicast to 239.255.255.250:3702 (node-onvif's
 * startProbe), collecting answers for timeoutMs. Opt-in: it sends on the LAN.
 * node-onvif keeps one probe state per process, so concurrent calls share a probe.
 */
export function discoverCameras(timeoutMs = 3000): Promise<DiscoveredCamera[]> {
  if (!probing) {
    onvif._DISCOVERY_WAIT = timeoutMs;
    probing = onvif
      .startProbe()
      .then((found) => found.map(({ urn, name, hardware, location, xaddrs }) => ({ urn, name, hardware, location, xaddrs })))
      .finally(() => (probing = null));
  }
  return probing;
}

function withDeadline<T>(work: Promise<T>, ms: number, signal: AbortSignal | undefined, what: string): Promise<T> {
  work.catch(() => undefined); // may settle after we have given up on it
  return new Promise<T>((resolve, reject) => {
    if (signal?.aborted) return reject(new DeviceError('aborted', `${what} aborted`));
    const onAbort = () => done(() => reject(new DeviceError('aborted', `${what} aborted`)));
    const timer = setTimeout(() => done(() => reject(new DeviceError('timeout', `${what}: no answer within ${ms} ms`))), ms);
    const done = (then: () => void) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      then();
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => done(() => resolve(value)),
      (err: unknown) => done(() => reject(err)),
    );
  });
}

/** node-onvif reports everything as Error(message): 'Network Error: ...', '400 Bad Request - Sender not Authorized'. */
function classifyOnvifError(err: unknown): DeviceError {
  const message = err instanceof Error ? err.message : String(err);
  const code: CameraErrorCode = /not ?authori[sz]ed|\b401\b/i.test(message)
    ? 'unauthorized'
    : /ETIMEDOUT|timed? ?out/i.test(message)
      ? 'timeout'
      : /Network Error|ECONN|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN|socket hang up|\b[45]\d\d\b/i.test(message)
        ? 'unreachable'
        : 'bad-response';
  return new DeviceError(code, `ONVIF: ${message}`, { cause: err });
}

function classifySocketError(err: Error & { code?: string }): DeviceError {
  const code = err.code === 'ETIMEDOUT' ? 'timeout' : 'unreachable';
  return new DeviceError(code, `snapshot: ${err.code ?? ''} ${err.message}`.trim(), { cause: err });
}

// --- HTTP Digest client (RFC 7616) --------------------------------------------

interface DigestChallenge {
  realm: string;
  nonce: string;
  opaque?: string;
  algorithm: 'MD5' | 'MD5-sess' | 'SHA-256' | 'SHA-256-sess';
  qop: 'auth' | null;
  nc: number;
}

const ALGORITHMS = ['SHA-256', 'SHA-256-sess', 'MD5', 'MD5-sess'] as const; // preference order

/**
 * The best Digest challenge in a WWW-Authenticate value (several challenges
 * may share one header, RFC 7235 §4.1). Parameters are token=token or
 * token="quoted string" with backslash escapes (RFC 7235 §2.1).
 */
function pickDigestChallenge(header: string): DigestChallenge | null {
  const challenges: Record<string, string>[] = [];
  let current: Record<string, string> | null = null;
  for (const m of header.matchAll(/([\w!#$%&'*+.^`|~-]+)(?:\s*=\s*("(?:[^"\\]|\\.)*"|[^\s,]+))?/g)) {
    const [, name, value] = m;
    if (value === undefined) {
      current = /^digest$/i.test(name!) ? {} : null; // a new scheme
      if (current) challenges.push(current);
    } else if (current) {
      current[name!.toLowerCase()] = value.startsWith('"') ? value.slice(1, -1).replace(/\\(.)/g, '$1') : value;
    }
  }
  const usable = challenges
    .map((c) => ({ c, algorithm: ALGORITHMS.find((a) => a.toLowerCase() === (c.algorithm ?? 'MD5').toLowerCase()) }))
    .filter(({ c, algorithm }) => algorithm && c.realm !== undefined && c.nonce)
    .filter(({ c }) => c.qop === undefined || c.qop.split(',').some((q) => q.trim() === 'auth'))
    .sort((x, y) => ALGORITHMS.indexOf(x.algorithm!) - ALGORITHMS.indexOf(y.algorithm!));
  const best = usable[0];
  if (!best) return null;
  const { c, algorithm } = best;
  return { realm: c.realm!, nonce: c.nonce!, opaque: c.opaque, algorithm: algorithm!, qop: c.qop === undefined ? null : 'auth', nc: 0 };
}

/** RFC 7616 §3.4.1: response = KD(H(A1), nonce:nc:cnonce:qop:H(A2)); A1 = user:realm:pass (":nonce:cnonce" for -sess). */
function digestAuthorization(c: DigestChallenge, user: string, pass: string, method: string, uri: string): string {
  const H = (s: string) => createHash(c.algorithm.startsWith('MD5') ? 'md5' : 'sha256').update(s, 'utf8').digest('hex');
  const cnonce = randomBytes(16).toString('hex');
  const nc = (++c.nc).toString(16).padStart(8, '0');
  let ha1 = H(`${user}:${c.realm}:${pass}`);
  if (c.algorithm.endsWith('-sess')) ha1 = H(`${ha1}:${c.nonce}:${cnonce}`);
  const ha2 = H(`${method}:${uri}`);
  const response = c.qop ? H(`${ha1}:${c.nonce}:${nc}:${cnonce}:${c.qop}:${ha2}`) : H(`${ha1}:${c.nonce}:${ha2}`);
  const q = (s: string) => `"${s.replace(/["\\]/g, '\\$&')}"`;
  const fields = [`username=${q(user)}`, `realm=${q(c.realm)}`, `uri=${q(uri)}`, `algorithm=${c.algorithm}`, `nonce=${q(c.nonce)}`];
  if (c.qop) fields.push(`nc=${nc}`, `cnonce=${q(cnonce)}`, `qop=${c.qop}`);
  fields.push(`response=${q(response)}`);
  if (c.opaque !== undefined) fields.push(`opaque=${q(c.opaque)}`);
  return `Digest ${fields.join(', ')}`;
}
