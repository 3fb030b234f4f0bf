/**
 * Voice prompts: rendered ahead of time with the real espeak-ng, played
 * through a real player command (a small shell script that logs what it was
 * given), one prompt at a time, and silent, never thrown, when either
 * program is missing.
 */
import { EventEmitter } from 'node:events';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { Writable } from 'node:stream';
import { after, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { checkConfig, loadConfig } from '../../protocol/config/gate-config.js';
import type { VoiceConfig } from '../../protocol/config/gate-schema.js';
import type { DecisionRecord, LaneEvents } from '../../edge-agent/lane/lane.js';
import { REASONS, type Reason } from '../../protocol/reasons.js';
import { IDLE_PROMPT, PROMPT_IDS, promptForDecision, promptText, spokenTexts } from '../../edge-agent/voice/prompts.js';
import { renderPrompts } from '../../edge-agent/voice/render.js';
import { VoicePrompts, voiceCacheDir } from '../../edge-agent/voice/voice-prompts.js';
import { pause, until } from '../support/wait.js';

const ESPEAK = '/usr/bin/espeak-ng';
const root = mkdtempSync(join(tmpdir(), 'voice-test-'));
after(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;
const freshDir = (name: string): string => {
  const dir = join(root, `${name}-${++dirs}`);
  mkdirSync(dir, { recursive: true });
  return dir;
};

interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

/** A pino logger whose lines the test can read. */
function recordingLogger() {
  const lines: LogLine[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()) as LogLine);
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, sink), lines, warnings: () => lines.filter((l) => l.level === 40) };
}

function script(dir: string, name: string, body: string): string {
  const path = join(dir, name);
  writeFileSync(path, `#!/bin/sh\n${body}\n`);
  chmodSync(path, 0o755);
  return path;
}

const quote = (s: string): string => `'${s.replaceAll("'", `'\\''`)}'`;

/** A player that logs "start <file>" and "end <file>" around a short sleep; killed, it never logs the end. */
function recordingPlayer(dir: string, { sleep = 0.3, exitCode = 0 } = {}) {
  const log = join(dir, 'played.log');
  const path = script(dir, 'player.sh', `echo "start $(basename "$1")" >> ${quote(log)}\nsleep ${sleep}\necho "end $(basename "$1")" >> ${quote(log)}\nexit ${exitCode}`);
  const played = (): string[] => (existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n').filter(Boolean) : []);
  return { command: [path, '{file}'], played };
}

/**
 * A fast stand-in for espeak-ng: writes a small WAV-looking file to $1 and its
 * arguments (NUL-separated) to a file of their own, since renders run two at a time.
 */
function recordingRenderer(dir: string) {
  const logDir = join(dir, 'render-calls');
  mkdirSync(logDir);
  const path = script(
    dir,
    'render.sh',
    `printf '%s\\0' "$@" > ${quote(logDir)}/"$(date +%s%N)-$$"\nprintf 'RIFF\\0\\0\\0\\0WAVEfmt ' > "$1"\nhead -c 200 /dev/zero >> "$1"`,
  );
  /** Each call's arguments after the file: voice, text, and the marker. */
  const calls = (): string[][] =>
    readdirSync(logDir)
      .sort()
      .map((name) => readFileSync(join(logDir, name), 'utf8').split('\0').slice(1, -1));
  return { command: [path, '{file}', '{voice}', '{text}', 'end-of-call'], calls };
}

function voiceConfig(overrides: Partial<VoiceConfig> = {}): VoiceConfig {
  return {
    enabled: true,
    languages: ['zh', 'en'],
    idlePrompt: true,
    player: ['aplay', '-q', '{file}'],
    playTimeoutMs: 30_000,
    render: ['espeak-ng', '-v', '{voice}', '-s', '150', '-w', '{file}', '{text}'],
    voices: { zh: 'cmn', en: 'en' },
    renderTimeoutMs: 30_000,
    ...overrides,
  };
}

const decided = (reason: Reason): DecisionRecord => ({ decision: { reason } }) as unknown as DecisionRecord;

function isWav(file: string): boolean {
  const head = readFileSync(file).subarray(0, 12);
  return head.subarray(0, 4).toString('latin1') === 'RIFF' && head.subarray(8, 12).toString('latin1') === 'WAVE';
}

/** A gate with a recording player and renderer; the lane is a bare emitter of the lane's events. */
async function gate(t: TestContext, overrides: Partial<VoiceConfig> = {}, options: { player?: { sleep?: number; exitCode?: number }; retryPlayerAfterMs?: number } = {}) {
  const dir = freshDir('gate');
  const player = recordingPlayer(dir, options.player);
  const renderer = recordingRenderer(dir);
  const { logger, lines, warnings } = recordingLogger();
  const voice = new VoicePrompts({
    config: voiceConfig({ render: renderer.command, player: player.command, ...overrides }),
    cacheDir: join(dir, 'cache'),
    logger,
    ...(options.retryPlayerAfterMs !== undefined ? { retryPlayerAfterMs: options.retryPlayerAfterMs } : {}),
  });
  const lane = new EventEmitter<LaneEvents>();
  voice.attach(lane);
  t.after(() => voice.stop());
  await voice.start();
  return { dir, voice, lane, player, renderer, lines, warnings };
}

test('voice: every reason has its prompt with the screen texts, and an idle prompt, Chinese first', () => {
  for (const reason of Object.keys(REASONS) as Reason[]) {
    assert.equal(promptForDecision(decided(reason)), reason);
    assert.deepEqual(promptText(reason), { id: reason, ...REASONS[reason] });
  }
  assert.deepEqual(promptText(IDLE_PROMPT), { id: 'idle', zh: '请出示健康码', en: 'Please show your health code' });
  assert.equal(PROMPT_IDS.length, Object.keys(REASONS).length + 1);
  assert.deepEqual(spokenTexts('red', ['zh', 'en']).map((s) => s.language), ['zh', 'en']);
  assert.deepEqual(spokenTexts('red', ['en']), [{ language: 'en', text: REASONS.red.en }]);
});

test('voice: config defaults, and the documented example loads with its voice block', () => {
  const config = checkConfig({ site: 's', lane: 'l' });
  assert.deepEqual(config.voice, voiceConfig());
  assert.equal(voiceCacheDir(config), join('data', 'voice'));
  assert.equal(voiceCacheDir({ ...config, voice: { ...config.voice, cacheDir: '/var/cache/gate-voice' } }), '/var/cache/gate-voice');
  assert.throws(() => checkConfig({ site: 's', lane: 'l', voice: { languages: ['fr'] } }), /"voice\.languages\.0" must be one of "zh", "en"$/);
  assert.throws(() => checkConfig({ site: 's', lane: 'l', voice: { player: 'aplay {file}' } }), /"voice\.player" must be array/);
  const example = loadConfig('docs/gate-config.example.yaml', {});
  assert.equal(example.voice.enabled, true);
  assert.deepEqual(example.voice.player, ['aplay', '-q', '{file}']);
});

test('voice: espeak-ng renders every prompt to a real WAV file ahead of time, and a second start renders nothing', async (t) => {
  if (!existsSync(ESPEAK)) {
    const message = `${ESPEAK} is absent (Debian: apt-get install espeak-ng): real rendering not tested`;
    if (process.env.CI) throw new Error(`${message}; CI must have it`);
    t.skip(message);
    return;
  }
  const cacheDir = join(freshDir('espeak'), 'voice');
  const config = voiceConfig({ player: ['/bin/true', '{file}'] });
  const first = recordingLogger();
  const voice = new VoicePrompts({ config, cacheDir, logger: first.logger });
  await voice.start();
  await voice.stop();
  assert.deepEqual(first.warnings(), []);
  const ready = first.lines.find((l) => l.msg === 'voice prompts ready');
  assert.equal(ready?.rendered, PROMPT_IDS.length * 2);
  assert.equal(ready?.silent, 0);
  const files = readdirSync(cacheDir);
  assert.equal(files.length, PROMPT_IDS.length * 2);
  for (const id of ['red', 'idle']) {
    const [zh, en] = voice.filesOf(id as Reason);
    assert.match(basename(zh!), new RegExp(`^${id}\\.zh\\.[0-9a-f]{16}\\.wav$`));
    assert.match(basename(en!), new RegExp(`^${id}\\.en\\.[0-9a-f]{16}\\.wav$`));
    for (const file of [zh!, en!]) {
      assert.ok(isWav(file), `${file} starts RIFF....WAVE`);
      // 22.05 kHz 16-bit mono: even "请出示健康码" is well over half a second.
      assert.ok(statSync(file).size > 20_000, `${file} holds speech (${statSync(file).size} bytes)`);
    }
  }

  const second = recordingLogger();
  const again = new VoicePrompts({ config, cacheDir, logger: second.logger });
  await again.start();
  await again.stop();
  const reused = second.lines.find((l) => l.msg === 'voice prompts ready');
  assert.equal(reused?.cached, PROMPT_IDS.length * 2);
  assert.equal(reused?.rendered, 0);
});

test('voice: a decision is spoken Chinese then English, and a newer decision cuts the older off', async (t) => {
  // Long enough that a slow machine still sends the second decision while the first is playing.
  const { voice, lane, player } = await gate(t, {}, { player: { sleep: 0.6 } });
  lane.emit('decision', decided('fever'));
  await until('the fever prompt playing', () => player.played().length > 0);
  lane.emit('decision', decided('red'));
  await voice.settled();
  await pause(50);
  const played = player.played().map((line) => line.replace(/\.[0-9a-f]{16}\.wav$/, ''));
  assert.deepEqual(played, ['start fever.zh', 'start red.zh', 'end red.zh', 'start red.en', 'end red.en']);
});

test('voice: the idle prompt follows a turn, but never cuts off a verdict', async (t) => {
  const { voice, lane, player } = await gate(t, {}, { player: { sleep: 0.6 } });
  lane.emit('state', 'idle', 'locked');
  await voice.settled();
  assert.deepEqual(player.played().map((l) => l.split('.')[0]), ['start idle', 'end idle', 'start idle', 'end idle']);

  const before = player.played().length;
  lane.emit('decision', decided('green-normal'));
  await until('the pass prompt playing', () => player.played().length > before);
  lane.emit('state', 'idle', 'open');
  // Reading a code goes back to idle too, without a turn ending: no prompt.
  lane.emit('state', 'idle', 'reading');
  await voice.settled();
  await pause(50);
  const after = player.played().slice(before).map((l) => l.split('.')[0]);
  assert.deepEqual(after, ['start green-normal', 'end green-normal', 'start green-normal', 'end green-normal']);
});

test('voice: a gate without the player renders nothing, warns once and stays silent', async (t) => {
  const { voice, lane, warnings, renderer } = await gate(t, { player: ['no-such-player-here', '-q', '{file}'] });
  assert.deepEqual(renderer.calls(), [], 'prompts rendered with nothing to play them');
  assert.equal(warnings().length, 1);
  assert.match(warnings()[0]!.msg, /voice player not found: the gate is silent/);
  assert.equal(warnings()[0]!.player, 'no-such-player-here');
  assert.doesNotThrow(() => lane.emit('decision', decided('red')));
  await voice.settled();
  assert.equal(warnings().length, 1);
});

test('voice: a player that goes missing while the gate runs gives one warning and silence, and is found again later', async (t) => {
  const dir = freshDir('late-player');
  const later = join(dir, 'installed-later.sh');
  script(dir, 'installed-later.sh', 'exit 0');
  const { voice, lane, warnings, lines } = await gate(t, { player: [later, '{file}'] }, { retryPlayerAfterMs: 100 });
  rmSync(later);
  assert.doesNotThrow(() => {
    lane.emit('decision', decided('yellow'));
    lane.emit('decision', decided('red'));
  });
  await voice.settled();
  await pause(20);
  lane.emit('decision', decided('fever'));
  await voice.settled();
  const missing = warnings().filter((w) => /cannot be started/.test(w.msg));
  assert.equal(missing.length, 1);
  assert.equal(missing[0]!.code, 'ENOENT');
  assert.match(String(missing[0]!.command), /installed-later\.sh/);
  assert.equal(warnings().length, 1);

  // Installed while the agent runs: found at the next prompt after the wait.
  const log = join(dir, 'late.log');
  script(dir, 'installed-later.sh', `echo "$(basename "$1")" >> ${quote(log)}`);
  await pause(150);
  lane.emit('decision', decided('no-code'));
  await voice.settled();
  assert.ok(lines.some((l) => l.msg === 'voice player found: prompts are spoken'));
  assert.deepEqual(readFileSync(log, 'utf8').trim().split('\n').map((l) => l.split('.').slice(0, 2).join('.')), ['no-code.zh', 'no-code.en']);
});

test('voice: a failing player is warned about once a minute, not on every prompt', async (t) => {
  const { voice, lane, warnings } = await gate(t, {}, { player: { sleep: 0, exitCode: 3 } });
  lane.emit('decision', decided('yellow'));
  await voice.settled();
  lane.emit('decision', decided('red'));
  await voice.settled();
  const failed = warnings().filter((w) => /failed/.test(w.msg));
  assert.equal(failed.length, 1);
  assert.equal(failed[0]!.code, 3);
});

test('voice: a player that hangs is stopped at its deadline', async (t) => {
  const { voice, lane, warnings, player } = await gate(t, { playTimeoutMs: 200, languages: ['en'] }, { player: { sleep: 5 } });
  const started = Date.now();
  lane.emit('decision', decided('fever'));
  await voice.settled();
  assert.ok(Date.now() - started < 2_000);
  assert.match(warnings()[0]?.msg ?? '', /timed out/);
  assert.equal(player.played().length, 1);
});

test('voice: a renderer that is not installed gives one warning naming it; start resolves and the gate is silent', async (t) => {
  const { voice, lane, warnings, player } = await gate(t, { render: ['/nonexistent/espeak-ng', '-w', '{file}', '{text}'] });
  assert.equal(warnings().length, 1);
  assert.match(warnings()[0]!.msg, /renderer \/nonexistent\/espeak-ng cannot be run \(ENOENT\)/);
  assert.deepEqual(voice.filesOf('red'), []);
  lane.emit('decision', decided('red'));
  await voice.settled();
  assert.deepEqual(player.played(), []);
});

test('voice: a renderer that fails gives one warning for all its prompts', async (t) => {
  const dir = freshDir('failing-renderer');
  const failing = script(dir, 'fail.sh', 'echo "no such voice" >&2\nexit 1');
  const { voice, warnings } = await gate(t, { render: [failing, '{file}'] });
  assert.equal(warnings().length, 1);
  assert.match(warnings()[0]!.msg, new RegExp(`failed for ${PROMPT_IDS.length * 2} prompt\\(s\\)`));
  assert.match(String(warnings()[0]!.first), /no such voice/);
  assert.deepEqual(voice.filesOf('fever'), []);
});

test('voice: shipped audio files are played as they are, without rendering', async (t) => {
  const audioDir = freshDir('shipped');
  for (const id of PROMPT_IDS) for (const language of ['zh', 'en']) writeFileSync(join(audioDir, `${id}.${language}.wav`), 'RIFF');
  const { voice, lane, renderer, player } = await gate(t, { audioDir });
  assert.deepEqual(renderer.calls(), []);
  assert.deepEqual(voice.filesOf('red'), [join(audioDir, 'red.zh.wav'), join(audioDir, 'red.en.wav')]);
  lane.emit('decision', decided('red'));
  await voice.settled();
  assert.deepEqual(player.played(), ['start red.zh.wav', 'end red.zh.wav', 'start red.en.wav', 'end red.en.wav']);
});

test('voice: a text is one argument to the renderer, whatever it holds', async () => {
  const dir = freshDir('inject');
  const canary = join(dir, 'x');
  writeFileSync(canary, 'still here');
  const renderer = recordingRenderer(dir);
  const { logger } = recordingLogger();
  const text = `"; rm -rf ${canary}; echo '$(touch ${canary}-2)' \`id\` {file}`;
  const options = { command: renderer.command, voices: { zh: 'cmn', en: 'en' }, cacheDir: join(dir, 'cache'), timeoutMs: 5_000, logger };
  const result = await renderPrompts([{ id: 'red', language: 'zh', text }, { id: 'fever', language: 'en', text: '-w /etc/passwd' }], options);
  assert.equal(result.rendered, 2);
  const calls = renderer.calls();
  assert.equal(calls.length, 2);
  assert.ok(calls.some((args) => args.length === 3 && args[0] === 'cmn' && args[1] === text && args[2] === 'end-of-call'), JSON.stringify(calls));
  // A text that looks like an option is not taken for one.
  assert.ok(calls.some((args) => args[0] === 'en' && args[1] === ' -w /etc/passwd'), JSON.stringify(calls));
  assert.equal(readFileSync(canary, 'utf8'), 'still here');
  assert.equal(existsSync(`${canary}-2`), false);

  if (existsSync(ESPEAK)) {
    const real = await renderPrompts([{ id: 'red', language: 'en', text }], { ...options, command: voiceConfig().render, cacheDir: join(dir, 'espeak') });
    assert.deepEqual(real.silent, []);
    assert.ok(isWav(real.files.get('red.en')!));
    assert.equal(readFileSync(canary, 'utf8'), 'still here');
  }
});

test('voice: a changed text is rendered again, the same text is not, and the stale file goes', async () => {
  const dir = freshDir('changed');
  const renderer = recordingRenderer(dir);
  const { logger } = recordingLogger();
  const cacheDir = join(dir, 'cache');
  const options = { command: renderer.command, voices: { zh: 'cmn', en: 'en' }, cacheDir, timeoutMs: 5_000, logger };
  const one = await renderPrompts([{ id: 'red', language: 'zh', text: '红码' }], options);
  const same = await renderPrompts([{ id: 'red', language: 'zh', text: '红码' }], options);
  assert.equal(one.rendered, 1);
  assert.equal(same.rendered, 0);
  assert.equal(same.cached, 1);
  assert.equal(renderer.calls().length, 1);
  const changed = await renderPrompts([{ id: 'red', language: 'zh', text: '红码，请等候' }], options);
  assert.equal(changed.rendered, 1);
  assert.equal(renderer.calls().length, 2);
  assert.notEqual(changed.files.get('red.zh'), one.files.get('red.zh'));
  assert.deepEqual(readdirSync(cacheDir), [basename(changed.files.get('red.zh')!)]);
  // Another voice is another file too.
  const otherVoice = await renderPrompts([{ id: 'red', language: 'zh', text: '红码，请等候' }], { ...options, voices: { zh: 'zh', en: 'en' } });
  assert.equal(otherVoice.rendered, 1);
});

test('voice: disabled, nothing is rendered and nothing is played', async (t) => {
  const { voice, lane, renderer, player, dir } = await gate(t, { enabled: false });
  lane.emit('decision', decided('red'));
  lane.emit('state', 'idle', 'locked');
  await voice.settled();
  assert.deepEqual(renderer.calls(), []);
  assert.equal(existsSync(join(dir, 'cache')), false);
  assert.deepEqual(player.played(), []);
});

test('voice: after stop, the lane is no longer listened to and the prompt playing is cut off', async (t) => {
  const { voice, lane, player } = await gate(t, {}, { player: { sleep: 1 } });
  lane.emit('decision', decided('yellow'));
  await until('the prompt playing', () => player.played().length > 0);
  await voice.stop();
  assert.equal(lane.listenerCount('decision'), 0);
  assert.equal(lane.listenerCount('state'), 0);
  lane.emit('decision', decided('red'));
  await pause(50);
  assert.equal(player.played().length, 1);
});
