/**
 * Operator commands to a lane (open, lock, release a hold): built as the
 * link's command message, signed by the CommandSigner, published to the
 * lane's command topic and logged with who sent it. The gate's result
 * (command/result, read by the feed) settles the log row; no result within
 * commandTimeoutSeconds settles it as a timeout.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { OPERATOR_ACTIONS, type OperatorAction } from '../protocol/trust/operators.js';
import type { CommandMessage } from '../protocol/contract.js';
import { publishOptions } from '../protocol/registry.js';
import { laneTopic } from '../protocol/topics.js';
import type { CommandSigner } from './command-signer.js';
import type { Feed } from '../record/feed.js';
import type { CommandRow, ConsoleStore } from '../record/store.js';
import { ConsoleError } from './errors.js';

// What an operator may ask a lane for is the gate's rule, not the console's.
export { OPERATOR_ACTIONS, type OperatorAction };

export class Commands {
  private sweepTimer: NodeJS.Timeout | null = null;
  private sweeping: Promise<void> | null = null;
  private readonly log: Logger;

  constructor(
    private readonly store: ConsoleStore,
    private readonly feed: Feed,
    private readonly signer: CommandSigner | null,
    private readonly timeoutMs: number,
    logger: Logger,
  ) {
    this.log = logger.child({ component: 'commands' });
  }

  get enabled(): boolean {
    return this.signer !== null;
  }

  start(): void {
    this.sweepTimer = setInterval(() => {
      // One sweep at a time: a slow database must not stack them up.
      if (this.sweeping) return;
      this.sweeping = this.sweep()
        .catch((error: Error) => this.log.error({ err: error.message }, 'command timeout sweep failed'))
        .finally(() => (this.sweeping = null));
    }, Math.min(1_000, this.timeoutMs));
    this.sweepTimer.unref();
  }

  /** Stops the sweep; resolves once a sweep under way has finished with the store. */
  async stop(): Promise<void> {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.sweepTimer = null;
    await this.sweeping;
  }

  /** Signs, publishes and logs one command; resolves with its log row once the broker has it (or it could not be sent). */
  async send(site: string, lane: string, action: OperatorAction, user: string): Promise<CommandRow> {
    if (!this.signer) throw new ConsoleError('commands-disabled', 'commands are disabled: no operatorKey in the console config');
    const command: CommandMessage = { type: 'command', id: randomUUID(), site, lane, issuedAt: Date.now(), action };
    const row: CommandRow = { id: command.id, site, lane, action, user, sentAt: command.issuedAt, result: 'pending', resultAt: null, detail: null };
    await this.store.addCommand(row);
    this.log.info({ id: row.id, site, lane, action, user }, 'command sent');
    const client = this.feed.mqtt;
    try {
      if (!client || !client.connected) throw new Error('not connected to the broker');
      await client.publishAsync(laneTopic(this.feed.baseTopic, site, lane, 'command'), this.signer.sign(command), publishOptions('command'));
    } catch (error) {
      const settled = (await this.store.settleCommand(row.id, 'not-sent', Date.now(), (error as Error).message))!;
      this.log.warn({ id: row.id, err: (error as Error).message }, 'command not sent');
      this.feed.emit('command', settled);
      return settled;
    }
    // The gate may have answered before the broker's PUBACK reached us: show the row as it is now, never an older "pending".
    const now = (await this.store.command(row.id)) ?? row;
    if (now.result === 'pending') this.feed.emit('command', now);
    return now;
  }

  private async sweep(): Promise<void> {
    for (const row of await this.store.pendingCommands(Date.now() - this.timeoutMs)) {
      const settled = await this.store.settleCommand(row.id, 'timeout', Date.now(), `no result within ${Math.round(this.timeoutMs / 1000)} s`);
      if (settled) {
        this.log.warn({ id: row.id, site: row.site, lane: row.lane, action: row.action }, 'command timed out');
        this.feed.emit('command', settled);
      }
    }
  }
}
