/** Spoken prompts: which languages, and the commands that render and play them. */
import { Type, type Static } from '@sinclair/typebox';
import { Choice, Defaulted, FilledObject } from '../schema-kit.js';

/** A command and its arguments, run without a shell. */
const command = (description: string) => Type.Array(Type.String({ minLength: 1 }), { minItems: 1, description });

export const voicesSchema = FilledObject({
  zh: Defaulted(Type.String({ minLength: 1, description: "the render command's {voice} for Chinese (espeak-ng: Mandarin)" }), 'cmn'),
  en: Defaulted(Type.String({ minLength: 1, description: "the render command's {voice} for English" }), 'en'),
});

export const voiceSchema = FilledObject(
  {
    enabled: Defaulted(Type.Boolean(), true),
    languages: Defaulted(Type.Array(Choice(['zh', 'en']), { minItems: 1, uniqueItems: true, description: 'Spoken in this order' }), ['zh', 'en']),
    idlePrompt: Defaulted(
      Type.Boolean({
        description: 'Say "请出示健康码 / Please show your health code" when the lane is ready again after a turn, unless a verdict is still being spoken',
      }),
      true,
    ),
    player: Defaulted(
      command('Command that plays one WAV file ({file}), run without a shell; missing: the gate is silent'),
      ['aplay', '-q', '{file}'],
    ),
    playTimeoutMs: Defaulted(Type.Integer({ minimum: 1000, maximum: 120000, description: 'A player still running after this is stopped' }), 30000),
    render: Defaulted(
      command(
        'Command that writes one prompt to a WAV file ({voice}, {file}, {text}), run at start without a shell for every prompt not cached or shipped',
      ),
      ['espeak-ng', '-v', '{voice}', '-s', '150', '-w', '{file}', '{text}'],
    ),
    voices: voicesSchema,
    renderTimeoutMs: Defaulted(Type.Integer({ minimum: 1000, maximum: 300000, description: 'Deadline of one prompt render' }), 30000),
    cacheDir: Type.Optional(Type.String({ minLength: 1, description: 'Folder of rendered prompts; absent: voice/ beside the journal file' })),
    audioDir: Type.Optional(
      Type.String({
        minLength: 1,
        description: 'Folder of shipped recordings <prompt-id>.zh.wav and <prompt-id>.en.wav, played as they are; a prompt without one is rendered',
      }),
    ),
  },
  {
    description:
      'Spoken prompts: each verdict and its advice, rendered ahead of time and played through a player command (docs/operations.md, "Voice prompts")',
  },
);

export type VoiceConfig = Static<typeof voiceSchema>;
