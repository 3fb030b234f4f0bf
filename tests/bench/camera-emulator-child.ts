/**
 * Child process of the camera-memory benchmark: an ONVIF camera emulator
 * whose scene changes every `--every` ms (a new person's code, then nobody),
 * so the agent under measurement decodes real frames. Prints its address as
 * one JSON line, then runs until killed.
 */
import { OnvifCameraEmulator } from '../../simulator/hardware/onvif-camera-emulator.js';

const every = Number(process.argv[2] ?? 2000);
const codes = JSON.parse(process.argv[3] ?? '[]') as string[];
const camera = await OnvifCameraEmulator.start({ user: 'bench', pass: 'bench-camera' });
process.stdout.write(`${JSON.stringify({ xaddr: camera.xaddr })}\n`);
let turn = 0;
setInterval(() => {
  camera.show(turn % 2 === 0 && codes.length > 0 ? codes[(turn / 2) % codes.length]! : null);
  turn++;
}, every);
