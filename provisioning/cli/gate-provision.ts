/**
 * gate-provision: an operator's laptop tool that makes a site's keys,
 * certificates, gate bundles and broker settings (docs/provisioning.md).
 *   init          a site folder: site CA, broker certificate, centre keys, empty issuer list
 *   issuer        add, remove or list the code issuers the gates trust
 *   enroll        one gate or a CSV batch: key, certificate, bundle; the broker's ACL again
 *   rotate        a gate's new key and certificate; the old certificate revoked (CRL)
 *   revoke        a gate's certificate on the CRL, its ACL block and password removed
 *   operator      add, remove or list operator keys the trust list delegates open, lock, release-hold to
 *   console       add, remove or list fleet console MQTT logins (client certificate, ACL block, console.yaml)
 *   export-trust  the issuer list (and operators) signed by the centre's key
 * Exit codes: 0 done, 1 refused (nothing changed), 2 usage error.
 */
import { RESERVED_LANE_IDS } from '../../protocol/topics.js';
import { join } from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import { enrollDevices, type EnrolledDevice } from '../site/enroll.js';
import { readDevicesCsv, type DeviceRequest } from '../site/devices-csv.js';
import { revokeDevice, rotateDevice } from '../site/devices.js';
import { ProvisionError, usage } from '../site/errors.js';
import { DEFAULTS, initSite } from '../site/init.js';
import { addConsole, checkConsoleName, removeConsole } from '../site/consoles.js';
import { addIssuers, removeIssuer } from '../site/issuers.js';
import { addOperator, checkOperatorName, DEFAULT_OPERATOR_DAYS, removeOperator } from '../site/operators.js';
import { checkId, LAYOUT, openSite, readPassphrase, sitePassphrase, withSiteLock } from '../site/site.js';
import { exportTrustList } from '../site/trust-list.js';

export interface ProvisionIo {
  stdout(text: string): void;
  stderr(text: string): void;
  /** A progress bar on a terminal; one line per device otherwise. */
  stderrIsTty: boolean;
}

const processIo: ProvisionIo = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  stderrIsTty: process.stderr.isTTY === true,
};

const TRUST_LIST_HELP = `
The file is one JSON object, a JWS in the flattened JSON serialization
(RFC 7515 §7.2.2), as the centre's other signed messages:
  {"protected": b64url({"alg":"ES256","kid":<b64url of SHA-256(centre cert DER)[0..8]>,"typ":"trust-list"}),
   "payload":   b64url({"type":"trust-list","site":<id>,"version":<n>,"issuedAt":<epoch ms>,
                        "certificates":[<issuer certificate PEM>, ...],
                        "operators":[{"name","certificate":<PEM>,"actions":[...],"notBefore","notAfter"}, ...]}),
   "signature": b64url(ES256 over protected "." payload)}
version grows by one with every issuer or operator add or remove (operators
are listed while their validity lasts); a gate takes only a
version above the one it has. Verify it with centre/centre.pem.
`;

const ISSUER_REMOVE_HELP = `
Kids are standard base64 (as EU DCC trust lists and gate-agent verify write
them); base64url and hex are taken too. A kid that starts with "-" (base64url
can) would be read as an option: give it as --kid <kid>, --kid=<kid>, or
after --, e.g. gate-provision issuer remove site-1 -- -AbCdEfGhIj
`;

const ENROLL_HELP = `
CSV: a header line naming the columns, then one device per line; an "auth"
column (certificate or password, empty: certificate) is optional:
  device,lane,auth
  gate-01,lane-1,certificate
  gate-02,lane-2,password
Blank lines and lines starting with # are skipped. Every row is checked
before anything is written; an error names the line.

Each bundle (devices/<device>/) holds agent.yaml, ca.pem, gate.pem, gate.key,
centre.pem and issuers/; a password gate's holds mqtt-password (0600) instead
of gate.pem and gate.key, and dials the password listener (broker port + 1).
--force on an enrolled device revokes its old certificate (broker/ca.crl).
agent.yaml's paths are absolute under the install
folder (default the site's, ${DEFAULTS.installDir}): copy the bundle there on the
gate. --in-place points them at the bundle where it is written, to try it here.
`;

function positivePort(value: string): number {
  const port = Number(value);
  if (!/^\d+$/.test(value) || port < 1 || port > 65535) throw usage(`--broker-port: ${JSON.stringify(value)} is not a TCP port (1-65535)`);
  return port;
}

function hostList(value: string, previous: string[] | undefined): string[] {
  const hosts = value.split(',').map((host) => host.trim()).filter(Boolean);
  if (hosts.length === 0) throw usage('--broker-host: give a DNS name or IP address');
  return [...(previous ?? []), ...hosts];
}

export async function main(argv: string[], io: ProvisionIo = processIo): Promise<number> {
  const out = (line: string): void => io.stdout(`${line}\n`);
  const program = new Command()
    .name('gate-provision')
    .description('Make a gate site\'s keys, certificates, gate bundles and broker settings (docs/provisioning.md).')
    .exitOverride()
    .configureOutput({ writeOut: (text) => io.stdout(text), writeErr: (text) => io.stderr(text) })
    .addHelpText('after', '\nExit codes: 0 done, 1 refused (nothing changed), 2 usage error.');

  program
    .command('init')
    .description('Make a site folder: site CA, broker certificate and Mosquitto listener, centre signing key, empty issuer trust list')
    .argument('<site-dir>', 'the site folder to make (must not exist, or be empty)')
    .requiredOption('--site <id>', 'site id, as in MQTT topics: letters, digits, - and _')
    .option('--broker-url <url>', 'the broker the gates connect to, mqtts://host:port', DEFAULTS.brokerUrl)
    .option('--broker-host <names>', "names and IP addresses for the broker's certificate, comma-separated or repeated (default: the URL's host)", hostList)
    .option('--broker-port <port>', "Mosquitto's listener port (default: the URL's port)", positivePort)
    .option('--broker-dir <dir>', 'absolute path of the broker/ folder on the broker machine (mosquitto.conf points there)', DEFAULTS.brokerDir)
    .option('--install-dir <dir>', 'absolute path of a bundle on its gate (agent.yaml points there)', DEFAULTS.installDir)
    .option('--base-topic <topic>', 'MQTT base topic, as the agents\' mqtt.baseTopic', DEFAULTS.baseTopic)
    .option('--passphrase-file <file>', 'encrypt the site CA and centre keys with the first line of this file (at least 8 characters)')
    .option('--force', 'replace an existing site folder (a new CA: every gate must be enrolled again)')
    .action(async (dir: string, options: InitCliOptions) => {
      const passphrase = options.passphraseFile === undefined ? undefined : readPassphrase(options.passphraseFile);
      const result = await initSite(dir, {
        site: options.site,
        brokerUrl: options.brokerUrl,
        ...(options.brokerHost ? { brokerHosts: options.brokerHost } : {}),
        ...(options.brokerPort ? { brokerPort: options.brokerPort } : {}),
        brokerDir: options.brokerDir,
        installDir: options.installDir,
        baseTopic: options.baseTopic,
        ...(passphrase === undefined ? {} : { passphrase }),
        force: options.force === true,
      });
      const { record } = result;
      out(`site ${record.site} made in ${result.dir}`);
      out(`  site CA        ${LAYOUT.caCert}  SHA-256 ${result.caFingerprint256}`);
      out(`  centre signer  ${LAYOUT.centreCert}  SHA-256 ${result.centreFingerprint256}`);
      out(`  broker         ${LAYOUT.broker}/ for ${record.broker.hosts.join(', ')}, listener ${record.broker.port}, installed in ${record.broker.dir}`);
      out(`  private keys   owner-only files, ${record.keysEncrypted ? 'site CA and centre keys encrypted with the passphrase' : 'not encrypted'}`);
      out(`next: gate-provision issuer add ${dir} <issuer-cert.pem>, then gate-provision enroll ${dir} --device <id> --lane <lane>`);
    });

  const issuer = program.command('issuer').description("Manage the site's issuer trust list: the code issuers' signer certificates the gates trust");
  issuer
    .command('add')
    .description("Add the code signer certificate(s) in a PEM or DER file (a CA, a TLS-only certificate or one from the site's CA is refused); the list version grows by one")
    .argument('<site-dir>', 'the site folder')
    .argument('<cert-file>', "an issuer's signer certificate, PEM (one or more) or DER")
    .option('--force', 'write a certificate already in the list again')
    .action(async (dir: string, file: string, options: { force?: boolean }) => {
      const site = openSite(dir);
      const added = await withSiteLock(site, async () => addIssuers(site, file, { force: options.force === true }));
      for (const entry of added) out(`added issuer kid ${entry.kid}: ${entry.subject} (until ${entry.notAfter})`);
      out(`trust list version ${site.record.trustList.version + 1}; existing bundles keep their issuers: export-trust for the gates`);
    });
  issuer
    .command('remove')
    .description('Remove an issuer by kid (as list prints it) or by its certificate file; the list version grows by one')
    .argument('<site-dir>', 'the site folder')
    .argument('[kid|file]', 'the kid (base64 as list prints it, base64url or 16 hex digits) or the certificate file')
    .option('--kid <kid>', 'the kid, read as a kid even when it starts with "-" or names a file')
    .addHelpText('after', ISSUER_REMOVE_HELP)
    .action(async (dir: string, reference: string | undefined, options: { kid?: string }) => {
      if ((reference === undefined) === (options.kid === undefined)) throw usage('give the issuer as <kid|file> or --kid <kid> (one of them)');
      const site = openSite(dir);
      const removed = await withSiteLock(site, async () => removeIssuer(site, options.kid !== undefined ? { kid: options.kid } : reference!));
      out(`removed issuer kid ${removed.kid}: ${removed.subject}`);
      out(`trust list version ${site.record.trustList.version + 1}`);
    });
  issuer
    .command('list')
    .description('Print the trust list: version, then one issuer per line (kid, valid until, subject)')
    .argument('<site-dir>', 'the site folder')
    .option('--json', 'print the list as one JSON object instead')
    .action(async (dir: string, options: { json?: boolean }) => {
      const { trustList, site } = openSite(dir).record;
      if (options.json) {
        out(JSON.stringify({ site, ...trustList }, null, 2));
        return;
      }
      out(`site ${site}: trust list version ${trustList.version}, ${trustList.issuers.length} issuer(s)`);
      for (const entry of trustList.issuers) out(`${entry.kid}  ${entry.notAfter}  ${entry.subject}`);
    });

  const operator = program
    .command('operator')
    .description("Manage operator keys: the trust list delegates open, lock and release-hold to them, so a console acts without the centre's key");
  operator
    .command('add')
    .description('Make an operator signing key (ES256) and certificate under operators/<name>/; the list version grows by one')
    .argument('<site-dir>', 'the site folder')
    .requiredOption('--name <operator>', 'the operator, as command results and logs name it: letters, digits, ., - and _')
    .option('--actions <list>', 'comma-separated: open, lock, release-hold (never reload-trust or set-config)', (value: string) => value.split(','))
    .option('--days <n>', `how long the delegation lasts (default ${DEFAULT_OPERATOR_DAYS})`, (value: string) => {
      if (!/^\d+$/.test(value)) throw usage(`--days ${JSON.stringify(value)}: a whole number of days`);
      return Number(value);
    })
    .option('--passphrase-file <file>', 'the site passphrase, when its keys are encrypted (the operator key is encrypted with it too)')
    .option('--force', 'give an existing operator a new key')
    .action(async (dir: string, options: { name: string; actions?: string[]; days?: number; passphraseFile?: string; force?: boolean }) => {
      const site = openSite(dir);
      const passphrase = sitePassphrase(site, options.passphraseFile);
      const added = await withSiteLock(site, () =>
        addOperator(site, {
          name: options.name,
          ...(options.actions ? { actions: options.actions } : {}),
          ...(options.days === undefined ? {} : { days: options.days }),
          ...(passphrase === undefined ? {} : { passphrase }),
          force: options.force === true,
        }),
      );
      out(`added operator ${added.name}: ${added.record.actions.join(', ')} until ${added.record.notAfter}, kid ${added.record.kid}`);
      out(`  key ${added.keyFile} (owner-only${passphrase === undefined ? '' : ', encrypted with the site passphrase'}), certificate ${added.certFile}`);
      out(`trust list version ${site.record.trustList.version + 1}: export-trust and push it to the gates (reload-trust) before the console uses the key`);
    });
  operator
    .command('remove')
    .description("Remove an operator: its key folder goes, the list version grows by one (gates keep it until they load the new list)")
    .argument('<site-dir>', 'the site folder')
    .requiredOption('--name <operator>', 'the operator')
    .action(async (dir: string, options: { name: string }) => {
      const site = openSite(dir);
      const name = checkOperatorName(options.name);
      const removed = await withSiteLock(site, async () => removeOperator(site, name));
      out(`removed operator ${name} (kid ${removed.kid})`);
      out(`trust list version ${site.record.trustList.version + 1}: export-trust and push it to the gates (reload-trust)`);
    });
  operator
    .command('list')
    .description('Print the operators: name, valid until, actions, kid')
    .argument('<site-dir>', 'the site folder')
    .option('--json', 'print them as one JSON object instead')
    .action(async (dir: string, options: { json?: boolean }) => {
      const { site, operators = {} } = openSite(dir).record;
      if (options.json) {
        out(JSON.stringify({ site, operators }, null, 2));
        return;
      }
      const now = Date.now();
      out(`site ${site}: ${Object.keys(operators).length} operator(s)`);
      for (const [name, record] of Object.entries(operators).sort(([a], [b]) => a.localeCompare(b))) {
        const expired = Date.parse(record.notAfter) <= now ? ' (expired: no longer listed)' : '';
        out(`${name}  ${record.notAfter}${expired}  ${record.actions.join(',')}  kid ${record.kid}`);
      }
    });

  const consoles = program
    .command('console')
    .description('Manage fleet console MQTT logins: a client certificate from the site CA, an ACL block (read the site, write lane commands), a console.yaml');
  consoles
    .command('add')
    .description('Make a console key and client certificate (CN console-<site>-<name>) and console.yaml under consoles/<name>/; the broker ACL made again')
    .argument('<site-dir>', 'the site folder')
    .requiredOption('--name <console>', 'the console: letters, digits, - and _')
    .option('--passphrase-file <file>', "the site passphrase, when its keys are encrypted (to sign with the site CA; the console's key is not encrypted)")
    .option('--force', 'give an existing console a new key and certificate; the old certificate is revoked (broker/ca.crl)')
    .action(async (dir: string, options: { name: string; passphraseFile?: string; force?: boolean }) => {
      const site = openSite(dir);
      const name = checkConsoleName(options.name);
      const passphrase = sitePassphrase(site, options.passphraseFile);
      const added = await withSiteLock(site, () => addConsole(site, { name, ...(passphrase === undefined ? {} : { passphrase }), force: options.force === true }));
      out(`added console ${added.name}: MQTT user ${added.record.commonName}, certificate serial ${added.record.serial}, until ${added.record.notAfter}`);
      out(`  ${added.folder}: console.yaml, console.pem, console.key (owner-only), ca.pem`);
      if (added.revokedSerial) out(`  revoked its old certificate ${added.revokedSerial} (broker/ca.crl)`);
      out(`add users and operatorKey to console.yaml; install broker/acl${added.revokedSerial ? ', ca.crl and mosquitto.conf' : ''} on the broker and reload it`);
    });
  consoles
    .command('remove')
    .description("Remove a console: its certificate on the CRL (broker/ca.crl), its ACL block and its folder gone")
    .argument('<site-dir>', 'the site folder')
    .requiredOption('--name <console>', 'the console')
    .option('--passphrase-file <file>', 'the site passphrase, when its keys are encrypted (to sign the CRL)')
    .action(async (dir: string, options: { name: string; passphraseFile?: string }) => {
      const site = openSite(dir);
      const name = checkConsoleName(options.name);
      const passphrase = sitePassphrase(site, options.passphraseFile);
      const removed = await withSiteLock(site, () => removeConsole(site, name, passphrase === undefined ? {} : { passphrase }));
      out(`removed console ${name} (${removed.record.commonName}): certificate ${removed.serial} revoked`);
      out('install broker/acl, ca.crl and mosquitto.conf on the broker and reload it');
    });
  consoles
    .command('list')
    .description('Print the consoles: name, MQTT user, valid until, serial')
    .argument('<site-dir>', 'the site folder')
    .option('--json', 'print them as one JSON object instead')
    .action(async (dir: string, options: { json?: boolean }) => {
      const { site, consoles: list = {} } = openSite(dir).record;
      if (options.json) {
        out(JSON.stringify({ site, consoles: list }, null, 2));
        return;
      }
      out(`site ${site}: ${Object.keys(list).length} console(s)`);
      for (const [name, record] of Object.entries(list).sort(([a], [b]) => a.localeCompare(b))) {
        out(`${name}  ${record.commonName}  ${record.notAfter}  serial ${record.serial}`);
      }
    });

  program
    .command('enroll')
    .description('Enroll one gate (--device, --lane) or a batch (--csv): key, client certificate, bundle; broker ACL and listener made again')
    .argument('<site-dir>', 'the site folder')
    .option('--device <id>', 'device id: names its bundle folder')
    .option('--lane <lane>', "the device's lane: its certificate's CN is gate-<site>-<lane>")
    .option('--csv <file>', 'enroll every device of a CSV file (device,lane)')
    .addOption(new Option('--install-dir <dir>', 'absolute path of the bundles on the gates; {device} becomes the device id (default: the site\'s)').conflicts('inPlace'))
    .option('--in-place', 'point agent.yaml at the bundle where it is written (to try a bundle on this machine)')
    .option('--passphrase-file <file>', 'the site passphrase, when its keys are encrypted')
    .addOption(new Option('--auth <mode>', 'how the gate logs in to the broker: a client certificate, or a username and random password').choices(['certificate', 'password']))
    .option('--force', 'enroll again a device already enrolled (or revoked): a new key and certificate, its bundle replaced, its old certificate revoked')
    .addHelpText('after', ENROLL_HELP)
    .action(async (dir: string, options: EnrollCliOptions) => {
      const requests = enrollRequests(options);
      const site = openSite(dir);
      const passphrase = sitePassphrase(site, options.passphraseFile);
      const installDir = options.inPlace ? join(site.dir, LAYOUT.devices, '{device}') : options.installDir;
      const batch = requests.length > 1;
      const enrolled: EnrolledDevice[] = await withSiteLock(site, () =>
        enrollDevices(site, requests, {
          ...(passphrase === undefined ? {} : { passphrase }),
          ...(installDir === undefined ? {} : { installDir }),
          force: options.force === true,
          ...(batch ? { progress: progressLine(io) } : {}),
        }),
      );
      for (const device of enrolled) {
        const login = device.auth === 'password' ? 'password login' : 'certificate login';
        out(`enrolled ${device.device}: lane ${device.lane}, MQTT user ${device.commonName} (${login}), bundle ${device.bundle} (install in ${device.installDir})`);
        if (device.revokedSerial) out(`  its previous certificate (serial ${device.revokedSerial}) is revoked in ${LAYOUT.brokerCrl}`);
      }
      const restart = enrolled.some((device) => device.revokedSerial) || enrolled.some((device) => device.auth === 'password');
      out(`${LAYOUT.broker}/ made again: install it on the broker and ${restart ? 'restart' : 'reload'} Mosquitto`);
    });

  program
    .command('rotate')
    .description("Give a gate a new key and certificate (same CN, same ACL); its old certificate is revoked (broker/ca.crl)")
    .argument('<site-dir>', 'the site folder')
    .option('--device <id>', 'the device')
    .option('--cert <file>', "or the device's current certificate (must be from this site's CA)")
    .option('--passphrase-file <file>', 'the site passphrase, when its keys are encrypted')
    .addHelpText('after', DEVICE_CHANGE_HELP)
    .action(async (dir: string, options: DeviceCliOptions) => {
      const reference = deviceReference(options);
      const site = openSite(dir);
      const passphrase = sitePassphrase(site, options.passphraseFile);
      const result = await withSiteLock(site, () => rotateDevice(site, reference, passphrase === undefined ? {} : { passphrase }));
      out(`rotated ${result.device}: MQTT user ${result.commonName}, new certificate serial ${result.serial} in ${result.bundle}`);
      out(`  the old certificate (serial ${result.oldSerial}) is revoked in ${LAYOUT.brokerCrl}`);
      out(`next: install ${LAYOUT.broker}/ on the broker and restart Mosquitto, then copy the bundle's gate.pem and gate.key to the gate and restart its agent`);
    });

  program
    .command('revoke')
    .description("Revoke a gate: its certificate on the CRL (broker/ca.crl), its ACL block and password removed; kept in site.json as revoked")
    .argument('<site-dir>', 'the site folder')
    .option('--device <id>', 'the device')
    .option('--cert <file>', "or the device's current certificate (must be from this site's CA)")
    .option('--passphrase-file <file>', 'the site passphrase, when its keys are encrypted (the CRL is signed by the site CA)')
    .addHelpText('after', DEVICE_CHANGE_HELP)
    .action(async (dir: string, options: DeviceCliOptions) => {
      const reference = deviceReference(options);
      const site = openSite(dir);
      const passphrase = sitePassphrase(site, options.passphraseFile);
      const result = await withSiteLock(site, () => revokeDevice(site, reference, passphrase === undefined ? {} : { passphrase }));
      out(
        result.serial
          ? `revoked ${result.device}: certificate serial ${result.serial} is on ${LAYOUT.brokerCrl}, user ${result.entry.commonName} left the ACL`
          : `revoked ${result.device}: user ${result.entry.commonName} left the ACL and ${LAYOUT.brokerPasswd}`,
      );
      const credential = result.serial ? 'its key no longer connects' : 'its password no longer logs in';
      out(`  its bundle ${LAYOUT.devices}/${result.device} is left as it is (${credential}); lane ${result.entry.lane} is free`);
      out(`next: install ${LAYOUT.broker}/ on the broker and restart Mosquitto`);
    });

  program
    .command('export-trust')
    .description('Write the issuer trust list (with the operator keys) signed by the centre key (JWS), for pushing to the gates')
    .argument('<site-dir>', 'the site folder')
    .option('--out <file>', 'where to write it, - for standard output (default: <site-dir>/trust-list-v<version>.jws)')
    .option('--passphrase-file <file>', 'the site passphrase, when its keys are encrypted')
    .option('--force', 'overwrite the output file')
    .addHelpText('after', TRUST_LIST_HELP)
    .action(async (dir: string, options: { out?: string; passphraseFile?: string; force?: boolean }) => {
      const site = openSite(dir);
      const passphrase = sitePassphrase(site, options.passphraseFile);
      const result = await withSiteLock(site, async () =>
        exportTrustList(site, {
          ...(options.out === undefined ? {} : { out: options.out }),
          ...(passphrase === undefined ? {} : { passphrase }),
          force: options.force === true,
        }),
      );
      const operators = result.payload.operators?.length ? `, ${result.payload.operators.length} operator(s)` : '';
      if (result.file) out(`trust list version ${result.payload.version} (${result.payload.certificates.length} issuer(s)${operators}) signed by the centre key: ${result.file}`);
      else io.stdout(result.text);
    });

  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) {
      // commander names the option it did not know: say what to do when it is a kid.
      if (error.code === 'commander.unknownOption' && argv[0] === 'issuer' && argv[1] === 'remove' && /'-[A-Za-z0-9_-]{10}=?'/.test(error.message)) {
        io.stderr('gate-provision: a kid that starts with "-" reads as an option: give it as --kid <kid>, or after --\n');
      }
      return error.exitCode === 0 ? 0 : 2;
    }
    if (error instanceof ProvisionError) {
      io.stderr(`gate-provision: ${error.message}\n`);
      return error.code === 'usage' ? 2 : 1;
    }
    // A disk full, a folder not writable: the staged change was dropped, so say that much.
    if (typeof (error as NodeJS.ErrnoException).code === 'string' && (error as NodeJS.ErrnoException).syscall) {
      io.stderr(`gate-provision: ${(error as Error).message}; nothing was changed\n`);
      return 1;
    }
    throw error;
  }
  return 0;
}

interface InitCliOptions {
  site: string;
  brokerUrl: string;
  brokerHost?: string[];
  brokerPort?: number;
  brokerDir: string;
  installDir: string;
  baseTopic: string;
  passphraseFile?: string;
  force?: boolean;
}

interface DeviceCliOptions {
  device?: string;
  cert?: string;
  passphraseFile?: string;
}

const DEVICE_CHANGE_HELP = `
Name the device by --device, or by --cert, its current certificate: a
certificate not signed by this site's CA is refused. Afterwards copy the
site's broker/ folder (ca.crl, acl, mosquitto.conf, passwd) to the broker
and restart Mosquitto (it reads the CRL when its listener starts); for
rotate, copy gate.pem and gate.key from the bundle to the gate as well.
revoke leaves the gate's bundle (devices/<device>/) as it is: its key no
longer connects; the device stays in site.json, marked revoked.
`;

function deviceReference(options: DeviceCliOptions): { device?: string; cert?: string } {
  if ((options.device === undefined) === (options.cert === undefined)) throw usage('give --device <id> or --cert <file> (one of them)');
  return options.device !== undefined ? { device: checkId('--device', options.device) } : { cert: options.cert! };
}

interface EnrollCliOptions {
  auth?: 'certificate' | 'password';
  device?: string;
  lane?: string;
  csv?: string;
  installDir?: string;
  inPlace?: boolean;
  passphraseFile?: string;
  force?: boolean;
}

function enrollRequests(options: EnrollCliOptions): DeviceRequest[] {
  if (options.csv !== undefined) {
    if (options.device !== undefined || options.lane !== undefined) throw usage('give either --csv or --device and --lane, not both');
    const rows = readDevicesCsv(options.csv);
    // --auth with --csv: the mode of rows whose auth column is absent or empty.
    return options.auth === undefined ? rows : rows.map((row) => ({ ...row, auth: row.auth ?? options.auth! }));
  }
  if (options.device === undefined || options.lane === undefined) throw usage('give --device and --lane, or --csv');
  const lane = checkId('--lane', options.lane);
  if (RESERVED_LANE_IDS.has(lane)) throw usage(`--lane "${lane}" is taken by the site's own topics (${[...RESERVED_LANE_IDS].join(', ')})`);
  return [{ device: checkId('--device', options.device), lane, ...(options.auth ? { auth: options.auth } : {}) }];
}

/** On a terminal a bar redrawn in place; in a log, one line per device. */
function progressLine(io: ProvisionIo): (done: number, total: number, device: string) => void {
  return (done, total, device) => {
    if (!io.stderrIsTty) {
      io.stderr(`enrolled ${done}/${total}: ${device}\n`);
      return;
    }
    const width = 30;
    const filled = Math.round((done / total) * width);
    io.stderr(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} ${device}\x1b[K${done === total ? '\n' : ''}`);
  };
}
