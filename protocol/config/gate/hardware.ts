/**
 * How the lane is wired (docs/wiring.md): the board, relay, inputs, lamps,
 * thermometer and code readers. The type is the checked section as the
 * schema has it; device/lane-hardware.ts takes its own HardwareConfig,
 * written in its drivers' options, and the compiler checks one against the
 * other where the agent opens the hardware.
 */
import { Type, type Static } from '@sinclair/typebox';
import { Choice, Defaulted, DefinitionRef, FilledObject, StrictObject } from '../schema-kit.js';

const pin = () => Type.Integer({ minimum: 0, maximum: 255 });
const BAUD_RATES = [1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200] as const;
const DELIMITERS = ['CR', 'LF', 'CRLF'] as const;

/** A contact input (beam, fire alarm, exit button): shared under the root's `$defs`. */
export const inputSchema = StrictObject({
  pin: pin(),
  invert: Defaulted(Type.Boolean({ description: 'active-low wiring' }), false),
  pullUp: Defaulted(Type.Boolean(), false),
  debounceMs: Defaulted(Type.Integer({ minimum: 0, maximum: 1000 }), 20),
});

/** The root schema's `$defs` the hardware section refers to. */
export const hardwareDefinitions = { input: inputSchema };
const input = () => DefinitionRef('input', inputSchema);

export const boardSchema = FilledObject({
  io: Defaulted(
    Type.String({ minLength: 1, description: "'firmata' (an Arduino on USB) or a johnny-five IO plugin module, e.g. 'raspi-io'" }),
    'firmata',
  ),
  port: Type.Optional(Type.String({ minLength: 1, description: 'Firmata serial port; the first USB/ACM port when absent' })),
  readyTimeoutMs: Defaulted(Type.Integer({ minimum: 1000, maximum: 120000 }), 15000),
});

export const relaySchema = StrictObject({
  pin: pin(),
  type: Defaulted(Choice(['NO', 'NC'], { description: 'the relay contact the lock-release circuit is wired through' }), 'NO'),
  failSafe: Defaulted(Choice(['open', 'locked'], { description: 'what the leaf does when the board is lost' }), 'open'),
});

export const lightsSchema = StrictObject({
  green: Type.Optional(pin()),
  red: Type.Optional(pin()),
  buzzer: Type.Optional(pin()),
});

export const thermometerSchema = FilledObject({
  address: Defaulted(Type.Integer({ minimum: 1, maximum: 127, description: 'SMBus address (0x5A = 90)' }), 90),
  emissivity: Type.Optional(
    Type.Number({ exclusiveMinimum: 0, maximum: 1, description: 'of skin, about 0.98; compensated when the sensor is set otherwise' }),
  ),
  offsetC: Defaulted(Type.Number({ minimum: -5, maximum: 5, description: 'calibration offset from a reference blackbody' }), 0),
  minForeheadC: Defaulted(
    Type.Number({ minimum: 20, maximum: 36, description: 'a stable reading below this is no forehead: the sensor keeps waiting for one' }),
    30,
  ),
});

export const scannerSchema = StrictObject({
  path: Type.String({ minLength: 1, description: 'serial device of the QR scanner module, e.g. /dev/ttyUSB0' }),
  baudRate: Defaulted(Choice(BAUD_RATES), 9600),
  delimiter: Defaulted(Choice(DELIMITERS), 'CRLF'),
});

export const idCardReaderSchema = StrictObject({
  path: Type.String({ minLength: 1, description: 'serial device of the resident ID-card reader, e.g. /dev/ttyUSB1' }),
  baudRate: Defaulted(Choice(BAUD_RATES), 115200),
  protocol: Defaulted(Choice(['line', 'sam'], { description: "'line': the number as a text line; 'sam': the SAM module's frames" }), 'line'),
  delimiter: Defaulted(Choice(DELIMITERS, { description: "line ending of the 'line' protocol" }), 'CRLF'),
});

export const cameraSchema = StrictObject({
  xaddr: Type.String({ pattern: '^https?://', description: 'ONVIF device service address' }),
  user: Type.Optional(Type.String()),
  password: Type.Optional(Type.String()),
  framesPerSecond: Defaulted(Type.Number({ exclusiveMinimum: 0, maximum: 30 }), 5),
  region: Type.Optional(
    StrictObject({
      left: Type.Integer({ minimum: 0 }),
      top: Type.Integer({ minimum: 0 }),
      width: Type.Integer({ minimum: 21 }),
      height: Type.Integer({ minimum: 21 }),
    }),
  ),
  maxWidth: Type.Optional(Type.Integer({ minimum: 64 })),
  decoder: Defaulted(Choice(['zxing-wasm', 'zxing-library']), 'zxing-wasm'),
});

export const hardwareSchema = StrictObject(
  {
    board: boardSchema,
    relay: relaySchema,
    passageBeam: input(),
    fireAlarm: input(),
    exitButton: Type.Optional(input()),
    lights: Type.Optional(lightsSchema),
    thermometer: thermometerSchema,
    scanner: Type.Optional(scannerSchema),
    idCardReader: Type.Optional(idCardReaderSchema),
    camera: Type.Optional(cameraSchema),
  },
  { description: 'How the lane is wired; see docs/wiring.md. Absent: the agent runs on the simulator only.' },
);

export type InputConfig = Static<typeof inputSchema>;
/** The hardware section as checked (not device/'s HardwareConfig, which is what the drivers take). */
export type WiringConfig = Static<typeof hardwareSchema>;
