/**
 * Child process of the camera-memory benchmark: an ONVIF camera emulator
 * whose scene changes every `--every` ms (a new person's code, then nobody),
 * so the agent under measurement decodes real frames. The codes are issued
 * here too, so that neither the issuer nor its libraries count in the
 * agent's memory. Prints its address and the issuer's certificate (PEM) as
 * one JSON line, then runs until killed.
 */
import { OnvifCameraEmulator } from '../../simulator/hardware/onvif-camera-emulator.js';
import { ReferencePlatform } from '../../simulator/platform.js';

const every = Number(process.argv[2] ?? 2000);
const platform = await ReferencePlatform.create();
// Long-lived codes so the same few stay valid for the whole run.
const codes = Array.from({ length: 6 }, (_, i) =>
  platform.issue({ colour: i % 3 === 2 ? 'yellow' : 'green', maskedName: `测*${i}`, lifetimeSeconds: 900 }).code,
);
const camera = await OnvifCameraEmulator.start({ user: 'bench', pass: 'bench-camera' });
process.stdout.write(`${JSON.stringify({ xaddr: camera.xaddr, issuerCertificate: platform.issuer.certificate.toString() })}\n`);
let turn = 0;
setInterval(() => {
  camera.show(turn % 2 === 0 && codes.length > 0 ? codes[(turn / 2) % codes.length]! : null);
  turn++;
}, every);
