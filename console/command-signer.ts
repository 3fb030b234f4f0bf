/**
 * Signing operator commands with the operator key the centre's signed trust
 * list delegates (`gate-provision operator add`): the gate runs them for the
 * operator's actions only and names the operator in the result. The signing
 * itself is the gate side's (protocol/operator-command.ts), so the
 * console and the gates cannot drift apart on the message format.
 */
import type { CommandMessage } from '../protocol/contract.js';
import type { OperatorAction } from '../protocol/trust/operators.js';
import { loadOperatorKey, signOperatorCommand, type OperatorKey } from '../protocol/operator-command.js';
import { type ConsoleConfig } from '../protocol/config/console-config.js';
import { ConfigError } from '../protocol/config/errors.js';

export interface CommandSigner {
  /** The text to publish on the lane's command topic. */
  sign(command: CommandMessage): string;
}

export class OperatorCommandSigner implements CommandSigner {
  constructor(private readonly key: OperatorKey) {}

  sign(command: CommandMessage): string {
    const { site, lane, id, issuedAt } = command;
    return signOperatorCommand({ site, lane, id, issuedAt, action: command.action as OperatorAction }, this.key).text;
  }
}

/** The signer the config names, or null: commands disabled. */
export function loadCommandSigner(config: ConsoleConfig): CommandSigner | null {
  const files = config.operatorKey;
  if (!files) return null;
  try {
    return new OperatorCommandSigner(loadOperatorKey({ keyFile: files.key, certFile: files.certificate }, files.passphrase));
  } catch (error) {
    // Key material is never in the message: only the files and what was wrong with them.
    throw new ConfigError('invalid', `operatorKey: ${files.key}, ${files.certificate}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}
