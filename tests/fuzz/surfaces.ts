/**
 * The registry of fuzzed surfaces: every place the gate, the console and
 * the centre take bytes from outside. Each entry names the
 * module that builds it, loaded only inside the worker that runs it, so one
 * surface's rig (a broker, a lane, a server) never shares a heap with
 * another's. docs/fuzzing.md describes each.
 */
import type { Surface } from './surface.js';

interface Entry {
  /** Loads the surface's module and picks it out. */
  load: () => Promise<Surface<unknown>>;
}

const from = <M>(module: () => Promise<M>, pick: (m: M) => Surface<unknown>): Entry => ({ load: async () => pick(await module()) });

export const SURFACES: Record<string, Entry> = {
  'credential-gzhc1': from(() => import('./credential.js'), (m) => m.gzhcSurface),
  'credential-hc1': from(() => import('./credential.js'), (m) => m.dccSurface),
  'link-colour-change': from(() => import('./link.js'), (m) => m.linkSurfaces['colour-change']),
  'link-colour-snapshot': from(() => import('./link.js'), (m) => m.linkSurfaces['colour-snapshot']),
  'link-command': from(() => import('./link.js'), (m) => m.linkSurfaces.command),
  'link-lookup-reply': from(() => import('./link.js'), (m) => m.linkSurfaces['lookup-reply']),
  'link-centre-key': from(() => import('./link.js'), (m) => m.linkSurfaces['centre-key']),
  'link-trust-list': from(() => import('./link.js'), (m) => m.linkSurfaces['trust-list']),
  'serial-scanner-lines': from(() => import('./serial.js'), (m) => m.scannerLinesSurface),
  'serial-id-card-lines': from(() => import('./serial.js'), (m) => m.idCardLinesSurface),
  'serial-sam-frames': from(() => import('./serial.js'), (m) => m.samFramesSurface),
  'config-gate': from(() => import('./config.js'), (m) => m.gateConfigSurface),
  'config-console': from(() => import('./config.js'), (m) => m.consoleConfigSurface),
  'config-centre': from(() => import('./config.js'), (m) => m.centreConfigSurface),
  'http-screen': from(() => import('./http.js'), (m) => m.screenSurface),
  'http-staff': from(() => import('./http.js'), (m) => m.staffSurface),
  'http-console': from(() => import('./http.js'), (m) => m.consoleSurface),
  'http-centre': from(() => import('./http-centre.js'), (m) => m.centreSurface),
  'centre-baseline-body': from(() => import('./centre-baseline.js'), (m) => m.baselineBodySurface),
  'centre-lookup-request': from(() => import('./centre-mqtt.js'), (m) => m.lookupRequestSurface),
  'centre-department-intake': from(() => import('./centre-mqtt.js'), (m) => m.departmentIntakeSurface),
};

/**
 * Surfaces that take bytes from outside but have no code to fuzz yet. Each is
 * listed in every report as not run, so it cannot be forgotten; when its
 * code exists, its rig is written and its entry moves up into SURFACES.
 * None today.
 */
export const PENDING_SURFACES: Record<string, string> = {};

export function surfaceNames(): string[] {
  return Object.keys(SURFACES);
}

export async function loadSurface(name: string): Promise<Surface<unknown>> {
  const entry = SURFACES[name];
  if (!entry) throw new Error(`no fuzz surface "${name}"; surfaces: ${surfaceNames().join(', ')}`);
  return entry.load();
}
