/**
 * What the gate says aloud: one prompt per decision reason (the verdict and
 * its advice, REASONS' own texts, so the voice never says something the
 * screen does not) and the idle prompt. Pure data; voice-prompts.ts plays it.
 */
import type { DecisionRecord } from '../lane/lane.js';
import { REASONS, type Reason } from '../../protocol/reasons.js';

export type Language = 'zh' | 'en';

export const LANGUAGES: readonly Language[] = ['zh', 'en'];

/** The lane is ready for the next person. */
export const IDLE_PROMPT = 'idle';

/** A reason code, or 'idle'. Ids are file names too: shipped audio is `<id>.<lang>.wav`. */
export type PromptId = Reason | typeof IDLE_PROMPT;

export interface Prompt {
  id: PromptId;
  zh: string;
  en: string;
}

const IDLE_TEXT = { zh: '请出示健康码', en: 'Please show your health code' } as const;

export const PROMPT_IDS: readonly PromptId[] = [IDLE_PROMPT, ...(Object.keys(REASONS) as Reason[])];

export function promptText(id: PromptId): Prompt {
  const texts = id === IDLE_PROMPT ? IDLE_TEXT : REASONS[id];
  return { id, zh: texts.zh, en: texts.en };
}

/** Every prompt, to render ahead of time. */
export function allPrompts(): Prompt[] {
  return PROMPT_IDS.map(promptText);
}

/** The prompt for a decision: its reason's, which carries both verdict and advice. */
export function promptForDecision(record: Pick<DecisionRecord, 'decision'>): PromptId {
  return record.decision.reason;
}

/** Which texts to speak, in the order voice.languages gives (by default Chinese, then English). */
export function spokenTexts(id: PromptId, languages: readonly Language[]): Array<{ language: Language; text: string }> {
  const prompt = promptText(id);
  return [...new Set(languages)].map((language) => ({ language, text: prompt[language] }));
}
