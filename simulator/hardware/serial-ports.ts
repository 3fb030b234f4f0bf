/**
 * One serialport binding for several virtual serial devices, routed by path,
 * as the OS's one binding serves every tty. The lane's hardware takes one
 * binding (HardwareInjection.serialBinding) for its scanner and its ID-card
 * reader; each virtual device keeps its own unplug behaviour.
 */
import type { BindingInterface, BindingPortInterface, OpenOptions, PortInfo } from '@serialport/bindings-interface' with { 'resolution-mode': 'require' };

export interface VirtualSerialDevice {
  readonly path: string;
  readonly binding: BindingInterface<BindingPortInterface>;
}

export function serialPorts(...devices: VirtualSerialDevice[]): BindingInterface {
  return {
    list: async (): Promise<PortInfo[]> => (await Promise.all(devices.map((device) => device.binding.list()))).flat(),
    open: async (options: OpenOptions): Promise<BindingPortInterface> => {
      const device = devices.find((each) => each.path === options.path);
      if (!device) throw Object.assign(new Error(`Error: No such file or directory, cannot open ${options.path}`), { code: 'ENOENT', errno: -2 });
      return device.binding.open(options);
    },
  };
}
