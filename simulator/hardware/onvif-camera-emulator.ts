/**
 * An ONVIF network camera on 127.0.0.1, for the real camera driver
 * (device/camera/onvif-camera.ts, through node-onvif) to talk to.
 *
 * SOAP 1.2 over HTTP POST. The device service (/onvif/device_service) answers
 * GetSystemDateAndTime, GetCapabilities, GetServices and GetDeviceInformation;
 * the media service (/onvif/media_service) GetProfiles, GetSnapshotUri and
 * GetStreamUri. That covers node-onvif 0.1.7's OnvifDevice.init(), which
 * asks in this order: GetSystemDateAndTime, GetCapabilities,
 * GetDeviceInformation, GetProfiles, GetStreamUri (UDP, HTTP, RTSP for each
 * profile; it ignores faults) and GetSnapshotUri. No stream is served: every
 * GetStreamUri gets a fault, as from a snapshot-only camera.
 *
 * SOAP authentication is the WS-Security UsernameToken with PasswordDigest
 * that node-onvif sends on every call (WSS UsernameToken Profile 1.0 §3.1):
 * Base64(SHA-1(nonce + created + password)), created within CLOCK_WINDOW_MS
 * of our clock, each nonce once. Calls of the PRE_AUTH access class (date
 * and time, capabilities, services; ONVIF Core Specification, "access
 * classes") need none. A refusal is the ONVIF generic fault env:Sender /
 * ter:NotAuthorized, "Sender not Authorized", as HTTP 400 (SOAP 1.2 sends
 * Sender faults as 400).
 *
 * The snapshot (GET /onvif/snapshot.jpg) needs HTTP Digest (RFC 7616, MD5 by
 * default as cameras do, qop=auth). Nonces are stateless: hex(time) plus an
 * HMAC of it under a per-emulator secret (RFC 7616 §3.3); an expired nonce
 * with a correct response gets a new challenge with stale=true; nc must rise
 * for each nonce (replay). The nonce is hex because node-onvif's own digest
 * client cuts header values at '='.
 *
 * The picture: a wall, a phone held up to the camera, a health code on its
 * screen (qrcode → PNG → sharp composites), see CameraScene.
 *
 * (Near 500 lines: the SOAP answers are mostly XML templates, and the camera's
 * three parts, SOAP, Digest and picture, are kept in the one file it was given.)
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import QRCode from 'qrcode';
import sharp, { type OverlayOptions } from 'sharp';

export interface CameraScene {
  /** Side of the QR code on the phone's screen, in frame pixels. */
  size: number;
  /** In-plane rotation of the phone, degrees. */
  rotate: number;
  /**
   * The phone turned about its vertical axis, degrees. An affine stand-in for
   * perspective (sharp has no projective warp): horizontal foreshortening by
   * cos(angle) and a vertical shear of tan(angle)/4.
   */
  perspective: number;
  /** Gaussian blur sigma in pixels (focus, motion); 0 for none. */
  blur: number;
  /** A bright reflection over the screen, 0 (none) to 1 (white-out at its centre). */
  glare: number;
  /** Sensor noise, 0 to 1: its standard deviation is noise × 64 grey levels. */
  noise: number;
}

export interface OnvifCameraEmulatorOptions {
  user?: string;
  pass?: string;
  width?: number;
  height?: number;
  realm?: string;
  digestAlgorithm?: 'MD5' | 'SHA-256';
  /** How long a snapshot Digest nonce lives before it is answered stale=true. */
  nonceLifetimeMs?: number;
  scene?: Partial<CameraScene>;
}

const DEFAULT_SCENE: CameraScene = { size: 280, rotate: 0, perspective: 0, blur: 0, glare: 0, noise: 0 };
const CLOCK_WINDOW_MS = 5 * 60_000;
const PRE_AUTH = new Set(['GetSystemDateAndTime', 'GetCapabilities', 'GetServices']);
const DEVICE_ACTIONS = new Set([...PRE_AUTH, 'GetDeviceInformation']);
const MEDIA_ACTIONS = new Set(['GetProfiles', 'GetSnapshotUri', 'GetStreamUri']);
const PROFILE = 'profile_1';
const SNAPSHOT_PATH = '/onvif/snapshot.jpg';

export class OnvifCameraEmulator {
  /** Every SOAP action asked for, in order, with whether its WS-Security token was valid. */
  readonly soapCalls: { action: string; authenticated: boolean }[] = [];
  /** Authorization schemes seen on snapshot requests ('Digest', 'Basic'...). */
  readonly authSchemes = new Set<string>();
  snapshotsServed = 0;

  private text: string | null = null;
  private scene: CameraScene;
  private frame: Promise<Buffer> | null = null;
  private unauthorized = false;
  private hanging = false;
  private broken = false;
  private readonly hung = new Set<http.ServerResponse>();
  private readonly sockets = new Set<Socket>();
  private readonly secret = randomBytes(32);
  private readonly seenNonces = new Map<string, number>();
  private readonly nonceCounts = new Map<string, number>();
  private user: string;
  private pass: string;
  readonly width: number;
  readonly height: number;

  private constructor(
    private readonly server: http.Server,
    private readonly options: OnvifCameraEmulatorOptions,
  ) {
    this.user = options.user ?? 'admin';
    this.pass = options.pass ?? 'gate-camera-1';
    this.width = options.width ?? 1280;
    this.height = options.height ?? 720;
    this.scene = { ...DEFAULT_SCENE, ...options.scene };
  }

  static async start(options: OnvifCameraEmulatorOptions = {}): Promise<OnvifCameraEmulator> {
    const server = http.createServer();
    const emulator = new OnvifCameraEmulator(server, options);
    server.on('request', (req, res) => emulator.handle(req, res));
    server.on('connection', (socket) => {
      emulator.sockets.add(socket);
      socket.on('close', () => emulator.sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', resolve);
    });
    return emulator;
  }

  get origin(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }
  /** The device service address to give the driver. */
  get xaddr(): string {
    return `${this.origin}/onvif/device_service`;
  }
  get snapshotUri(): string {
    return `${this.origin}${SNAPSHOT_PATH}?profile=${PROFILE}`;
  }

  /** The current person holds up a phone showing `text`; null: nobody in view. */
  show(text: string | null): void {
    this.text = text;
    this.frame = null;
  }
  set(scene: Partial<CameraScene>): void {
    const next = { ...this.scene, ...scene };
    if (!(next.size >= 21) || !(next.blur >= 0) || !(next.glare >= 0) || !(next.noise >= 0)) {
      throw new RangeError(`camera emulator: bad scene ${JSON.stringify(scene)}`);
    }
    this.scene = next;
    this.frame = null;
  }
  /** The camera's password was changed (or restored) by its owner. */
  setCredentials(user: string, pass: string): void {
    this.user = user;
    this.pass = pass;
  }
  /** Refuse every authenticated request, whatever the credentials. */
  respondUnauthorized(on: boolean): void {
    this.unauthorized = on;
  }
  /** Accept requests and never answer them. */
  hang(on: boolean): void {
    this.hanging = on;
  }
  /** Serve snapshots cut short: a JPEG without its end. */
  brokenJpeg(on: boolean): void {
    this.broken = on;
  }

  async close(): Promise<void> {
    for (const res of this.hung) res.destroy();
    this.hung.clear();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }

  /** The JPEG the camera would serve now (rendered once per scene). */
  snapshot(): Promise<Buffer> {
    this.frame ??= renderFrame(this.width, this.height, this.text, this.scene);
    return this.frame;
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    if (this.hanging) {
      this.hung.add(res);
      res.on('close', () => this.hung.delete(res));
      req.resume();
      return;
    }
    const path = (req.url ?? '').split('?')[0];
    if (req.method === 'GET' && path === SNAPSHOT_PATH) {
      req.resume();
      void this.serveSnapshot(req, res).catch((err: unknown) => res.destroy(err as Error));
      return;
    }
    if (req.method === 'POST' && (path === '/onvif/device_service' || path === '/onvif/media_service')) {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => this.answerSoap(path, Buffer.concat(chunks).toString('utf8'), res));
      return;
    }
    req.resume();
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
  }

  // --- SOAP ----------------------------------------------------------------

  private answerSoap(path: string, xml: string, res: http.ServerResponse): void {
    const action = /<(?:[\w-]+:)?Body[^>]*>\s*<(?:[\w-]+:)?(\w+)/.exec(xml)?.[1] ?? '';
    const authenticated = !this.unauthorized && this.checkUsernameToken(xml);
    this.soapCalls.push({ action, authenticated });
    const actions = path === '/onvif/device_service' ? DEVICE_ACTIONS : MEDIA_ACTIONS;
    if (!actions.has(action)) {
      return soapFault(res, 400, 'env:Sender', 'ter:ActionNotSupported', `${action || 'request'} is not supported here`);
    }
    if (!PRE_AUTH.has(action) && !authenticated) {
      return soapFault(res, 400, 'env:Sender', 'ter:NotAuthorized', 'Sender not Authorized');
    }
    const profile = /<(?:[\w-]+:)?ProfileToken>([^<]*)</.exec(xml)?.[1];
    if ((action === 'GetSnapshotUri' || action === 'GetStreamUri') && profile !== PROFILE) {
      return soapFault(res, 400, 'env:Sender', 'ter:InvalidArgVal', 'No such profile', 'ter:NoProfile');
    }
    if (action === 'GetStreamUri') {
      return soapFault(res, 400, 'env:Sender', 'ter:InvalidArgVal', 'Streaming is not supported', 'ter:InvalidStreamSetup');
    }
    res.writeHead(200, { 'content-type': 'application/soap+xml; charset=utf-8' });
    res.end(envelope(this.soapBody(action)));
  }

  private soapBody(action: string): string {
    const now = new Date();
    switch (action) {
      case 'GetSystemDateAndTime':
        return (
          '<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime><tt:DateTimeType>NTP</tt:DateTimeType>' +
          '<tt:DaylightSavings>false</tt:DaylightSavings><tt:TimeZone><tt:TZ>CST-8</tt:TZ></tt:TimeZone><tt:UTCDateTime>' +
          `<tt:Time><tt:Hour>${now.getUTCHours()}</tt:Hour><tt:Minute>${now.getUTCMinutes()}</tt:Minute><tt:Second>${now.getUTCSeconds()}</tt:Second></tt:Time>` +
          `<tt:Date><tt:Year>${now.getUTCFullYear()}</tt:Year><tt:Month>${now.getUTCMonth() + 1}</tt:Month><tt:Day>${now.getUTCDate()}</tt:Day></tt:Date>` +
          '</tt:UTCDateTime></tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>'
        );
      case 'GetCapabilities':
        return (
          '<tds:GetCapabilitiesResponse><tds:Capabilities>' +
          `<tt:Device><tt:XAddr>${this.origin}/onvif/device_service</tt:XAddr></tt:Device>` +
          `<tt:Media><tt:XAddr>${this.origin}/onvif/media_service</tt:XAddr><tt:StreamingCapabilities>` +
          '<tt:RTPMulticast>false</tt:RTPMulticast><tt:RTP_TCP>false</tt:RTP_TCP><tt:RTP_RTSP_TCP>false</tt:RTP_RTSP_TCP>' +
          '</tt:StreamingCapabilities></tt:Media></tds:Capabilities></tds:GetCapabilitiesResponse>'
        );
      case 'GetServices':
        return (
          '<tds:GetServicesResponse>' +
          service('http://www.onvif.org/ver10/device/wsdl', `${this.origin}/onvif/device_service`) +
          service('http://www.onvif.org/ver10/media/wsdl', `${this.origin}/onvif/media_service`) +
          '</tds:GetServicesResponse>'
        );
      case 'GetDeviceInformation':
        return (
          '<tds:GetDeviceInformationResponse><tds:Manufacturer>GateSim</tds:Manufacturer>' +
          '<tds:Model>QR-Cam 720</tds:Model><tds:FirmwareVersion>1.4.2</tds:FirmwareVersion>' +
          '<tds:SerialNumber>GS-0000-0001</tds:SerialNumber><tds:HardwareId>emulator</tds:HardwareId>' +
          '</tds:GetDeviceInformationResponse>'
        );
      case 'GetProfiles': {
        const { width, height } = this;
        return (
          `<trt:GetProfilesResponse><trt:Profiles token="${PROFILE}" fixed="true"><tt:Name>mainStream</tt:Name>` +
          '<tt:VideoSourceConfiguration token="vsc_1"><tt:Name>VideoSource</tt:Name><tt:UseCount>1</tt:UseCount>' +
          `<tt:SourceToken>vs_1</tt:SourceToken><tt:Bounds x="0" y="0" width="${width}" height="${height}"/></tt:VideoSourceConfiguration>` +
          '<tt:VideoEncoderConfiguration token="vec_1"><tt:Name>VideoEncoder</tt:Name><tt:UseCount>1</tt:UseCount>' +
          `<tt:Encoding>JPEG</tt:Encoding><tt:Resolution><tt:Width>${width}</tt:Width><tt:Height>${height}</tt:Height></tt:Resolution>` +
          '<tt:Quality>80</tt:Quality><tt:RateControl><tt:FrameRateLimit>10</tt:FrameRateLimit>' +
          '<tt:EncodingInterval>1</tt:EncodingInterval><tt:BitrateLimit>4096</tt:BitrateLimit></tt:RateControl>' +
          '</tt:VideoEncoderConfiguration></trt:Profiles></trt:GetProfilesResponse>'
        );
      }
      default: // GetSnapshotUri
        return (
          `<trt:GetSnapshotUriResponse><trt:MediaUri><tt:Uri>${this.snapshotUri}</tt:Uri>` +
          '<tt:InvalidAfterConnect>false</tt:InvalidAfterConnect><tt:InvalidAfterReboot>false</tt:InvalidAfterReboot>' +
          '<tt:Timeout>PT0S</tt:Timeout></trt:MediaUri></trt:GetSnapshotUriResponse>'
        );
    }
  }

  /** WSS UsernameToken Profile 1.0 §3.1: PasswordDigest = Base64(SHA-1(nonce + created + password)). */
  private checkUsernameToken(xml: string): boolean {
    const field = (name: string) => new RegExp(`<(?:[\\w-]+:)?${name}\\b[^>]*>([^<]*)<`).exec(xml)?.[1]?.trim();
    const [user, digest, nonce, created] = ['Username', 'Password', 'Nonce', 'Created'].map(field);
    if (!user || !digest || !nonce || !created || !/PasswordDigest/.test(xml)) return false;
    const createdAt = Date.parse(created);
    if (!(Math.abs(Date.now() - createdAt) <= CLOCK_WINDOW_MS)) return false;
    if (this.seenNonces.has(nonce)) return false;
    for (const [seen, at] of this.seenNonces) if (Date.now() - at > 2 * CLOCK_WINDOW_MS) this.seenNonces.delete(seen);
    this.seenNonces.set(nonce, Date.now());
    const expected = createHash('sha1')
      .update(Buffer.concat([Buffer.from(nonce, 'base64'), Buffer.from(created), Buffer.from(this.pass)]))
      .digest();
    return unescapeXml(user) === this.user && safeEqual(Buffer.from(digest, 'base64'), expected);
  }

  // --- snapshot with HTTP Digest (RFC 7616) ---------------------------------

  private async serveSnapshot(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const header = req.headers.authorization ?? '';
    const scheme = /^\s*(\S+)/.exec(header)?.[1];
    if (scheme) this.authSchemes.add(scheme);
    const verdict = this.unauthorized ? 'refused' : this.checkDigest(req.method ?? 'GET', req.url ?? '', header);
    if (verdict !== 'ok') {
      res.writeHead(401, { 'www-authenticate': this.challenge(verdict === 'stale'), 'content-type': 'text/plain' });
      res.end('401 Unauthorized\n');
      return;
    }
    const jpeg = await this.snapshot();
    const body = this.broken ? jpeg.subarray(0, Math.floor(jpeg.length * 0.6)) : jpeg;
    this.snapshotsServed++;
    res.writeHead(200, { 'content-type': 'image/jpeg', 'content-length': body.length, 'cache-control': 'no-store' });
    res.end(body);
  }

  private get algorithm(): 'MD5' | 'SHA-256' {
    return this.options.digestAlgorithm ?? 'MD5';
  }
  private get realm(): string {
    return this.options.realm ?? 'GateSim QR-Cam';
  }

  private challenge(stale: boolean): string {
    const time = Buffer.alloc(8);
    time.writeBigUInt64BE(BigInt(Date.now()));
    const nonce = time.toString('hex') + createHmac('sha256', this.secret).update(time).digest('hex').slice(0, 32);
    const opaque = createHash('sha256').update(this.secret).digest('hex').slice(0, 16);
    return (
      `Digest realm="${this.realm}", qop="auth", algorithm=${this.algorithm}, nonce="${nonce}", ` +
      `opaque="${opaque}"${stale ? ', stale=true' : ''}`
    );
  }

  private checkDigest(method: string, url: string, header: string): 'ok' | 'stale' | 'refused' {
    if (!/^\s*Digest\s/i.test(header)) return 'refused';
    const p: Record<string, string> = {};
    for (const m of header.replace(/^\s*Digest\s+/i, '').matchAll(/([\w-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))/g)) {
      p[m[1]!.toLowerCase()] = m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : m[3]!;
    }
    const { username, realm, nonce, uri, response, qop, nc, cnonce } = p;
    if (!username || !nonce || !uri || !response || qop !== 'auth' || !nc || !cnonce) return 'refused';
    if (username !== this.user || realm !== this.realm || uri !== url) return 'refused';
    if ((p.algorithm ?? 'MD5').toUpperCase() !== this.algorithm) return 'refused';
    const H = (s: string) => createHash(this.algorithm === 'MD5' ? 'md5' : 'sha256').update(s, 'utf8').digest('hex');
    const expected = H(`${H(`${username}:${realm}:${this.pass}`)}:${nonce}:${nc}:${cnonce}:${qop}:${H(`${method}:${uri}`)}`);
    if (!safeEqual(Buffer.from(response.toLowerCase()), Buffer.from(expected))) return 'refused';
    // The response is right: now the nonce must be ours, fresh, and its count must rise.
    const time = Buffer.from(nonce.slice(0, 16), 'hex');
    const mac = createHmac('sha256', this.secret).update(time).digest('hex').slice(0, 32);
    if (time.length !== 8 || !safeEqual(Buffer.from(nonce.slice(16)), Buffer.from(mac))) return 'refused';
    if (Date.now() - Number(time.readBigUInt64BE()) > (this.options.nonceLifetimeMs ?? 60_000)) return 'stale';
    const count = parseInt(nc, 16);
    if (!(count > (this.nonceCounts.get(nonce) ?? 0))) return 'refused';
    this.nonceCounts.set(nonce, count);
    if (this.nonceCounts.size > 1000) this.nonceCounts.delete(this.nonceCounts.keys().next().value!);
    return 'ok';
  }
}

function safeEqual(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

function unescapeXml(s: string): string {
  return s.replace(/&(lt|gt|quot|apos|amp);/g, (_, e: string) => ({ lt: '<', gt: '>', quot: '"', apos: "'", amp: '&' })[e]!);
}

function envelope(body: string): string {
  return (
    '<?xml version="1.0" encoding="UTF-8"?>' +
    '<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" xmlns:ter="http://www.onvif.org/ver10/error"' +
    ' xmlns:tds="http://www.onvif.org/ver10/device/wsdl" xmlns:trt="http://www.onvif.org/ver10/media/wsdl"' +
    ` xmlns:tt="http://www.onvif.org/ver10/schema"><env:Body>${body}</env:Body></env:Envelope>`
  );
}

function service(namespace: string, xaddr: string): string {
  return (
    `<tds:Service><tds:Namespace>${namespace}</tds:Namespace><tds:XAddr>${xaddr}</tds:XAddr>` +
    '<tds:Version><tt:Major>2</tt:Major><tt:Minor>60</tt:Minor></tds:Version></tds:Service>'
  );
}

function soapFault(res: http.ServerResponse, status: number, code: string, subcode: string, reason: string, detail?: string): void {
  const inner = detail ? `<env:Subcode><env:Value>${detail}</env:Value></env:Subcode>` : '';
  res.writeHead(status, { 'content-type': 'application/soap+xml; charset=utf-8' });
  res.end(
    envelope(
      `<env:Fault><env:Code><env:Value>${code}</env:Value><env:Subcode><env:Value>${subcode}</env:Value>${inner}` +
        `</env:Subcode></env:Code><env:Reason><env:Text xml:lang="en">${reason}</env:Text></env:Reason></env:Fault>`,
    ),
  );
}

// --- the picture ---------------------------------------------------------------

async function renderFrame(width: number, height: number, text: string | null, scene: CameraScene): Promise<Buffer> {
  const wall = Buffer.from(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">` +
      '<defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1"><stop offset="0" stop-color="#8a8f94"/>' +
      '<stop offset="1" stop-color="#5d6166"/></linearGradient></defs>' +
      `<rect width="${width}" height="${height}" fill="url(#g)"/></svg>`,
  );
  const layers: OverlayOptions[] = [];
  if (text !== null) {
    const phone = await renderPhone(text, scene);
    layers.push({ input: await fitInto(phone, width, height), gravity: 'centre' });
    if (scene.glare > 0) {
      const r = Math.round(scene.size * 0.45);
      const a = Math.min(1, scene.glare);
      layers.push({
        input: Buffer.from(
          `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}"><defs><radialGradient id="b">` +
            `<stop offset="0" stop-color="#fff" stop-opacity="${a}"/><stop offset="0.5" stop-color="#fff" stop-opacity="${a * 0.8}"/>` +
            '<stop offset="1" stop-color="#fff" stop-opacity="0"/></radialGradient></defs>' +
            `<ellipse cx="${width / 2 + r * 0.4}" cy="${height / 2 - r * 0.3}" rx="${r}" ry="${Math.round(r * 0.7)}" fill="url(#b)"/></svg>`,
        ),
      });
    }
  }
  let raw = await sharp(wall).composite(layers).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  if (scene.blur > 0) {
    raw = await sharp(raw.data, { raw: raw.info }).blur(Math.max(0.3, scene.blur)).raw().toBuffer({ resolveWithObject: true });
  }
  if (scene.noise > 0) addNoise(raw.data, scene.noise * 64);
  return sharp(raw.data, { raw: raw.info }).jpeg({ quality: 80 }).toBuffer();
}

/** A phone: dark body, white screen, a green health-code header bar, the QR code. */
async function renderPhone(text: string, scene: CameraScene): Promise<Buffer> {
  const size = Math.round(scene.size);
  const pad = Math.round(size * 0.15);
  const w = size + 2 * pad;
  const h = Math.round(w * 1.7);
  const bezel = Math.max(4, Math.round(w * 0.04));
  const body = Buffer.from(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}">` +
      `<rect width="${w}" height="${h}" rx="${bezel * 3}" fill="#1c1d21"/>` +
      `<rect x="${bezel}" y="${bezel * 3}" width="${w - 2 * bezel}" height="${h - 6 * bezel}" fill="#fafafa"/>` +
      `<rect x="${bezel}" y="${bezel * 3}" width="${w - 2 * bezel}" height="${Math.round(h * 0.12)}" fill="#19a55b"/></svg>`,
  );
  const qr = await QRCode.toBuffer(text, { type: 'png', width: size, margin: 1, errorCorrectionLevel: 'M' });
  const qrSize = (await sharp(qr).metadata()).width;
  const top = Math.round(h * 0.12) + bezel * 3 + pad;
  let phone = sharp(body).composite([{ input: qr, left: Math.round((w - qrSize) / 2), top }]);
  if (scene.rotate !== 0 || scene.perspective !== 0) {
    const t = (scene.perspective * Math.PI) / 180;
    const r = (scene.rotate * Math.PI) / 180;
    // R(rotate) · [[cos t, 0], [tan t / 4, 1]]
    const [a, b, c, d] = [Math.cos(t), 0, Math.tan(t) / 4, 1];
    const m: [number, number, number, number] = [
      Math.cos(r) * a - Math.sin(r) * c,
      Math.cos(r) * b - Math.sin(r) * d,
      Math.sin(r) * a + Math.cos(r) * c,
      Math.sin(r) * b + Math.cos(r) * d,
    ];
    phone = sharp(await phone.png().toBuffer()).affine(m, { background: { r: 0, g: 0, b: 0, alpha: 0 }, interpolator: 'bilinear' });
  }
  return phone.png().toBuffer();
}

/** A phone held closer than the frame: the camera sees its middle only. */
async function fitInto(png: Buffer, width: number, height: number): Promise<Buffer> {
  const meta = await sharp(png).metadata();
  if (meta.width <= width && meta.height <= height) return png;
  const w = Math.min(width, meta.width);
  const h = Math.min(height, meta.height);
  return sharp(png)
    .extract({ left: Math.floor((meta.width - w) / 2), top: Math.floor((meta.height - h) / 2), width: w, height: h })
    .png()
    .toBuffer();
}

/** Gaussian noise (Box–Muller) of standard deviation `sigma` grey levels, from a fixed seed so frames repeat. */
function addNoise(px: Buffer, sigma: number): void {
  let seed = 0x2545f491;
  const random = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) + 0.5) / 4294967296;
  for (let i = 0; i < px.length; i += 2) {
    const radius = Math.sqrt(-2 * Math.log(random())) * sigma;
    const angle = 2 * Math.PI * random();
    px[i] = clamp(px[i]! + radius * Math.cos(angle));
    if (i + 1 < px.length) px[i + 1] = clamp(px[i + 1]! + radius * Math.sin(angle));
  }
}

function clamp(v: number): number {
  return v < 0 ? 0 : v > 255 ? 255 : Math.round(v);
}
