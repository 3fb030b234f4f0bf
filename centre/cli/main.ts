#!/usr/bin/env node
/**
 * `gate-centre` (`npm run centre -- …`): the centre's command line.
 *
 *   run (default)  serve: --config centre.yaml (none: embedded broker, data/centre.db, a local site)
 *   push           one colour change for one subject, through the running centre's API
 *   import FILE    a baseline (NDJSON or CSV) that replaces a site's list, streamed to the API
 *   status         the sites' counters, a subject's status, or the deliveries to the department
 *   keys           a site's signing keys; rollover: announce the next one; epoch: raise it after a restore
 *   token          a new API token and the SHA-256 the config keeps of it
 *   openapi        write the API's OpenAPI document
 *
 * Exit codes: 0 success, 1 a failure (config, store, broker, an API refusal), 2 usage error.
 */
import { createReadStream, existsSync, readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { extname } from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import pino from 'pino';
import { loadCentreConfig, type CentreConfig } from '../../protocol/config/centre-config.js';
import { ConfigError } from '../../protocol/config/errors.js';
import { COLOURS } from '../../protocol/domain.js';
import { writeCentreOpenApi } from '../api/openapi.js';
import { makeToken } from '../api/tokens.js';
import { localTokenFile, startCentre } from '../service.js';
import { CentreApiClient, type ApiAnswer } from './api-client.js';

interface ClientFlags {
  config?: string;
  url?: string;
  tokenFile?: string;
  ca?: string;
}

function print(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** The running centre's API as the config (or the flags) name it, with the token from GATE_CENTRE_TOKEN, --token-file or the local token. */
function apiClient(flags: ClientFlags): CentreApiClient {
  const config = loadCentreConfig(flags.config);
  const scheme = config.http.tls ? 'https' : 'http';
  const host = config.http.host.includes(':') ? `[${config.http.host}]` : config.http.host;
  const url = flags.url ?? `${scheme}://${host}:${config.http.port}`;
  const tokenFile = flags.tokenFile ?? localTokenFile(config);
  let token = process.env.GATE_CENTRE_TOKEN;
  if (!token) {
    if (!existsSync(tokenFile)) throw new Error(`no token: set GATE_CENTRE_TOKEN or give --token-file (the local centre writes ${tokenFile} when it starts with no clients configured)`);
    token = readFileSync(tokenFile, 'utf8').trim();
  }
  return new CentreApiClient({ url, token, ca: flags.ca ? readFileSync(flags.ca, 'utf8') : undefined });
}

/** Prints the answer; a refusal is exit 1 with the centre's reason. */
function answered(answer: ApiAnswer): number {
  if (answer.status >= 200 && answer.status < 300) {
    print(answer.body);
    return 0;
  }
  const body = answer.body as { error?: string; message?: string } | string | null;
  const reason = typeof body === 'object' && body !== null ? `${body.error ?? ''}: ${body.message ?? ''}` : String(body);
  process.stderr.write(`the centre refused (HTTP ${answer.status}) ${reason}\n`);
  return 1;
}

function clientOptions(command: Command): Command {
  return command
    .option('-c, --config <file>', 'centre.yaml: where the API listens and the local token lives')
    .option('--url <url>', "the centre's API (default: from the config)")
    .option('--token-file <file>', 'a file holding the API token (default: the local token; or set GATE_CENTRE_TOKEN)')
    .option('--ca <file>', "PEM of the CA that signed the centre's HTTPS certificate");
}

async function run(options: { config?: string }): Promise<number> {
  let config: CentreConfig;
  try {
    config = loadCentreConfig(options.config);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      return 1;
    }
    throw error;
  }
  const logger = pino({ name: 'centre', level: config.logLevel });
  const running = await startCentre(config, logger);
  process.stdout.write(`centre: API ${running.url}, broker ${running.broker.endpoint.url}, sites ${running.sites.map((s) => s.id).join(', ')}\n`);
  for (const site of running.sites) process.stdout.write(`  site ${site.id}: gates pin ${site.certificateFile} (mqtt.centreKeys)\n`);
  if (running.localTokenFile) process.stdout.write(`  local API token: ${running.localTokenFile}\n`);
  await new Promise<void>((resolve) => {
    const stop = (): void => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await running.stop();
  return 0;
}

export async function main(argv: string[]): Promise<number> {
  const program = new Command('gate-centre').exitOverride().description('The health-code centre: colour pushes, look-ups and alerts for the gates');
  let code = 0;
  const act = (fn: () => Promise<number>) => async () => {
    code = await fn();
  };
  program
    .command('run', { isDefault: true })
    .description('Serve the API, publish to the gates, answer look-ups, deliver alerts')
    .option('-c, --config <file>', 'centre.yaml (default: embedded broker, data/centre.db, a local site)')
    .action((options: { config?: string }) => act(() => run(options))());

  clientOptions(program.command('push').description("Push one subject's colour through the running centre"))
    .requiredOption('--site <site>', 'the site')
    .requiredOption('--subject <subject>', 'the pseudonymous code subject')
    .addOption(new Option('--colour <colour>', 'the new colour').choices([...COLOURS]).makeOptionMandatory())
    .option('--reason <code>', "the platform's reason code")
    .option('--batch-id <id>', 'the batch id (default: a new one)')
    .action((flags: ClientFlags & { site: string; subject: string; colour: string; reason?: string; batchId?: string }) =>
      act(async () => {
        const change = { subject: flags.subject, colour: flags.colour, effectiveAt: Date.now(), ...(flags.reason ? { reason: flags.reason } : {}) };
        return answered(await apiClient(flags).post(`/v1/sites/${encodeURIComponent(flags.site)}/changes`, { batchId: flags.batchId ?? randomUUID(), changes: [change] }));
      })(),
    );

  clientOptions(program.command('import').argument('<file>', 'NDJSON (.ndjson, .jsonl) or CSV (.csv, header subject,colour,effectiveAt[,reason][,idHash])').description("Replace a site's whole list with a baseline file, streamed to the running centre"))
    .requiredOption('--site <site>', 'the site')
    .option('--batch-id <id>', 'the batch id (default: a new one)')
    .addOption(new Option('--format <format>', 'the file format (default: by its extension)').choices(['ndjson', 'csv']))
    .action((file: string, flags: ClientFlags & { site: string; batchId?: string; format?: 'ndjson' | 'csv' }) =>
      act(async () => {
        const format = flags.format ?? (extname(file).toLowerCase() === '.csv' ? 'csv' : 'ndjson');
        const type = format === 'csv' ? 'text/csv' : 'application/x-ndjson';
        const path = `/v1/sites/${encodeURIComponent(flags.site)}/baseline?batchId=${encodeURIComponent(flags.batchId ?? randomUUID())}`;
        return answered(await apiClient(flags).put(path, type, createReadStream(file)));
      })(),
    );

  clientOptions(program.command('status').description("The sites' counters; with --subject a subject's status; with --deliveries the deliveries to the department"))
    .option('--site <site>', 'one site')
    .option('--subject <subject>', "a subject's current status (with --site)")
    .option('--deliveries', 'the deliveries to the department (with --site)')
    .action((flags: ClientFlags & { site?: string; subject?: string; deliveries?: boolean }) =>
      act(async () => {
        const client = apiClient(flags);
        if ((flags.subject || flags.deliveries) && !flags.site) throw new CommanderError(2, 'usage', '--subject and --deliveries need --site');
        const site = encodeURIComponent(flags.site ?? '');
        if (flags.subject) return answered(await client.get(`/v1/sites/${site}/subjects/${encodeURIComponent(flags.subject)}`));
        if (flags.deliveries) return answered(await client.get(`/v1/sites/${site}/deliveries`));
        return answered(await client.get('/v1/sites'));
      })(),
    );

  clientOptions(program.command('keys').description("A site's signing keys: in force, announced, retired"))
    .requiredOption('--site <site>', 'the site')
    .action((flags: ClientFlags & { site: string }) => act(async () => answered(await apiClient(flags).get(`/v1/sites/${encodeURIComponent(flags.site)}/keys`)))());

  clientOptions(program.command('rollover').description("Make the site's next signing key and announce it to the gates, signed by the current one (docs/keys.md)"))
    .requiredOption('--site <site>', 'the site')
    .option('--active-in <seconds>', 'the next key signs this long from now (time for every gate to hear the announcement)', '3600')
    .option('--overlap <seconds>', 'how long after the switch gates still trust the current key', String(7 * 86_400))
    .action((flags: ClientFlags & { site: string; activeIn: string; overlap: string }) =>
      act(async () => {
        const body = { activeInSeconds: Number(flags.activeIn), overlapSeconds: Number(flags.overlap) };
        if (!Number.isSafeInteger(body.activeInSeconds) || !Number.isSafeInteger(body.overlapSeconds)) throw new CommanderError(2, 'usage', '--active-in and --overlap are whole seconds');
        return answered(await apiClient(flags).post(`/v1/sites/${encodeURIComponent(flags.site)}/keys/rollover`, body));
      })(),
    );

  clientOptions(program.command('epoch').description("Raise the site's epoch and start it with a baseline of its list: after the centre's store was restored from a backup"))
    .requiredOption('--site <site>', 'the site')
    .action((flags: ClientFlags & { site: string }) => act(async () => answered(await apiClient(flags).post(`/v1/sites/${encodeURIComponent(flags.site)}/epoch`, {})))());

  program
    .command('token')
    .description('Make an API token: give the token to the client, put its SHA-256 in clients[].tokenSha256')
    .action(() =>
      act(async () => {
        print(makeToken());
        return 0;
      })(),
    );

  program
    .command('openapi')
    .description("Write the API's OpenAPI document")
    .option('--out <file>', 'where', 'docs/centre-openapi.json')
    .action((flags: { out: string }) =>
      act(async () => {
        await writeCentreOpenApi(flags.out);
        process.stdout.write(`${flags.out}\n`);
        return 0;
      })(),
    );

  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.exitCode !== 0 && error.code === 'usage') process.stderr.write(`${error.message}\n`);
      return error.exitCode === 0 ? 0 : 2;
    }
    process.stderr.write(`${error instanceof ConfigError ? error.message : (error as Error).message}\n`);
    return 1;
  }
  return code;
}

process.exitCode = await main(process.argv.slice(2));
