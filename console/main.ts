/**
 * The fleet console's command line (`npm run console -- …`):
 *
 *   run (default)   subscribe to the broker and serve the page: --config console.yaml
 *   hash-password   the users[].passwordHash line for a password read from standard input
 *
 * Exit codes: 0 success, 1 a failure at start (config, store, broker), 2 usage error.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import pino from 'pino';
import { loadConsoleConfig } from '../protocol/config/console-config.js';
import { startConsole } from './console.js';
import { hashPassword, passwordFollowsRules, PASSWORD_RULES } from '../protocol/privacy/passwords.js';
import { ConfigError } from '../protocol/config/errors.js';

export async function main(argv: string[]): Promise<number> {
  const program = new Command('console').exitOverride().description('Fleet console for health-code entry gates');
  let code = 0;
  program
    .command('run', { isDefault: true })
    .description('Subscribe to the broker and serve the console page')
    .option('-c, --config <file>', 'console.yaml (default: local broker mqtt://127.0.0.1:1883, data/console.db)')
    .action(async (options: { config?: string }) => {
      const logger = pino({ name: 'console' });
      let config;
      try {
        config = loadConsoleConfig(options.config);
      } catch (error) {
        if (error instanceof ConfigError) {
          process.stderr.write(`${error.message}\n`);
          code = 1;
          return;
        }
        throw error;
      }
      const running = await startConsole(config, logger);
      process.stdout.write(`fleet console: ${running.url}\n`);
      const stop = (): void => {
        void running.stop().then(() => process.exit(0));
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      await new Promise(() => {});
    });
  program
    .command('hash-password')
    .description(`Read a password (${PASSWORD_RULES.minLength} to ${PASSWORD_RULES.maxLength} characters) from standard input and print its scrypt hash for users[].passwordHash`)
    .action(async () => {
      // From standard input, never an argument: arguments show in ps and in shell history.
      const password = readFileSync(0, 'utf8').replace(/[\r\n]+$/, '');
      if (!passwordFollowsRules(password)) {
        process.stderr.write(`the password must be ${PASSWORD_RULES.minLength} to ${PASSWORD_RULES.maxLength} characters\n`);
        code = 2;
        return;
      }
      process.stdout.write(`${await hashPassword(password)}\n`);
    });
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
    process.stderr.write(`${(error as Error).message}\n`);
    return 1;
  }
  return code;
}

process.exitCode = await main(process.argv.slice(2));
