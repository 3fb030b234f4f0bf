/**
 * Spoken prompts as a component: they follow the lane from the build on;
 * start() does not wait for rendering, which takes seconds on a Pi, since the
 * lane decides at once (a prompt not yet rendered is silent).
 */
import type { Logger } from 'pino';
import type { Lane } from '../lane/lane.js';
import type { GateConfig } from '../../protocol/config/gate-schema.js';
import { VoicePrompts, voiceCacheDir } from '../voice/voice-prompts.js';
import type { Component } from './component.js';

export class VoiceComponent implements Component {
  readonly name = 'voice prompts';
  readonly voice: VoicePrompts;

  constructor(options: { config: GateConfig; lane: Lane; logger: Logger }) {
    this.voice = new VoicePrompts({ config: options.config.voice, cacheDir: voiceCacheDir(options.config), logger: options.logger });
    this.voice.attach(options.lane);
  }

  start(): void {
    void this.voice.start();
  }

  stop(): Promise<void> {
    return this.voice.stop();
  }
}
