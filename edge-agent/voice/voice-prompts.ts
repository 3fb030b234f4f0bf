/**
 * Voice prompts at the gate: each decision's verdict and
 * advice spoken in Chinese and English, and "please show your health code"
 * when the lane is ready again. One feature of the agent: it listens to the
 * lane's events and never acts on the lane, so a missing synthesiser or
 * loudspeaker leaves the gate silent, never stopped.
 */
import type { EventEmitter } from 'node:events';
import { accessSync, constants } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import type { Logger } from 'pino';
import type { GateConfig, VoiceConfig } from '../../protocol/config/gate-schema.js';
import type { DecisionRecord, LaneEvents, LaneState } from '../lane/lane.js';
import { PromptPlayer } from './player.js';
import { allPrompts, IDLE_PROMPT, promptForDecision, spokenTexts, type PromptId } from './prompts.js';
import { fileKey, renderPrompts, type RenderJob, type RenderResult } from './render.js';

export interface VoicePromptsOptions {
  config: VoiceConfig;
  /** Where rendered prompts are kept: voice.cacheDir, or voiceCacheDir(config) for the default. */
  cacheDir: string;
  logger: Logger;
  /** How long a player that could not be started is left alone; default a minute. */
  retryPlayerAfterMs?: number;
}

/** voice.cacheDir, else voice/ beside the journal file (kept with the gate's other data, off the install folder). */
export function voiceCacheDir(config: Pick<GateConfig, 'voice' | 'journal'>): string {
  return config.voice.cacheDir ?? join(dirname(config.journal.path), 'voice');
}

/** The player's executable as execFile would find it; null when there is none (a gate without a loudspeaker). */
export function findExecutable(command: string, path = process.env.PATH ?? ''): string | null {
  const candidates = command.includes('/') ? [command] : path.split(delimiter).filter(Boolean).map((dir) => join(dir, command));
  for (const candidate of candidates) {
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

/** The end of a person's turn: the lane is ready for the next one when it goes idle from here. */
const TURN_ENDS: ReadonlySet<LaneState> = new Set(['open', 'locked', 'held', 'staff', 'emergency']);

type LaneEventSource = Pick<EventEmitter<LaneEvents>, 'on' | 'off'>;

export class VoicePrompts {
  private readonly player: PromptPlayer;
  private files = new Map<string, string>();
  private readonly detach: Array<() => void> = [];
  private readonly abort = new AbortController();
  private rendering: Promise<void> | null = null;

  constructor(private readonly options: VoicePromptsOptions) {
    const { config, logger } = options;
    this.player = new PromptPlayer({
      command: config.player,
      timeoutMs: config.playTimeoutMs,
      logger,
      ...(options.retryPlayerAfterMs !== undefined ? { retryAfterMs: options.retryPlayerAfterMs } : {}),
    });
  }

  /** Finds or renders every prompt. Resolves, never rejects: what cannot be rendered stays silent. */
  start(): Promise<void> {
    this.rendering ??= this.render();
    return this.rendering;
  }

  /** Stops speaking and rendering, and stops listening to the lane. */
  async stop(): Promise<void> {
    for (const off of this.detach.splice(0)) off();
    this.abort.abort();
    this.player.stop();
    await this.rendering;
    await this.player.settled();
  }

  /** Speaks the lane's decisions, and the idle prompt when a turn ends. */
  attach(lane: LaneEventSource): void {
    const onDecision = (record: DecisionRecord): void => this.onDecision(record);
    const onState = (state: LaneState, previous: LaneState): void => this.onState(state, previous);
    lane.on('decision', onDecision);
    lane.on('state', onState);
    this.detach.push(
      () => lane.off('decision', onDecision),
      () => lane.off('state', onState),
    );
  }

  onDecision(record: Pick<DecisionRecord, 'decision'>): void {
    this.say(promptForDecision(record));
  }

  onState(state: LaneState, previous: LaneState): void {
    if (state === 'idle' && TURN_ENDS.has(previous) && this.options.config.idlePrompt) this.say(IDLE_PROMPT, { ifQuiet: true });
  }

  /** Speaks one prompt, cutting off the one playing (unless ifQuiet). Silent for a prompt without audio. */
  say(id: PromptId, { ifQuiet = false }: { ifQuiet?: boolean } = {}): void {
    const { config, logger } = this.options;
    if (!config.enabled || this.abort.signal.aborted) return;
    try {
      const files = this.filesOf(id);
      if (files.length === 0) {
        logger.debug({ prompt: id }, 'voice prompt has no audio: silent');
        return;
      }
      if (ifQuiet) this.player.playIfQuiet(files);
      else this.player.play(files);
    } catch (error) {
      // The lane emitted this event: nothing here may throw back into it.
      logger.error({ err: error, prompt: id }, 'voice prompt failed');
    }
  }

  /** The audio files of one prompt in speaking order; those not (yet) rendered are left out. */
  filesOf(id: PromptId): string[] {
    return spokenTexts(id, this.options.config.languages)
      .map(({ language }) => this.files.get(fileKey(id, language)))
      .filter((file): file is string => file !== undefined);
  }

  /** Settles when the latest prompt has finished playing (tests, shutdown). */
  settled(): Promise<void> {
    return this.player.settled();
  }

  private async render(): Promise<void> {
    const { config, logger, cacheDir } = this.options;
    if (!config.enabled) return;
    // Nothing to play them with: rendering would cost seconds of CPU at every start for nothing.
    const player = config.player[0]!;
    if (!findExecutable(player)) {
      logger.warn({ player }, 'voice player not found: the gate is silent (install it, or set voice.player, and restart)');
      return;
    }
    const jobs: RenderJob[] = allPrompts().flatMap((prompt) => spokenTexts(prompt.id, config.languages).map(({ language, text }) => ({ id: prompt.id, language, text })));
    let result: RenderResult;
    try {
      result = await renderPrompts(jobs, {
        command: config.render,
        voices: config.voices,
        cacheDir,
        ...(config.audioDir ? { audioDir: config.audioDir } : {}),
        timeoutMs: config.renderTimeoutMs,
        concurrency: 2,
        logger,
        signal: this.abort.signal,
      });
    } catch (error) {
      logger.warn({ err: error }, 'voice prompts could not be prepared: the gate is silent');
      return;
    }
    this.files = result.files;
    logger.info(
      { shipped: result.shipped, cached: result.cached, rendered: result.rendered, silent: result.silent.length, cacheDir },
      'voice prompts ready',
    );
  }
}
