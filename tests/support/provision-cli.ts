/**
 * gate-provision's main() run in the test process with its output caught,
 * and the check that a refused command changed nothing in the site folder.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { main } from '../../provisioning/cli/gate-provision.js';

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

export async function run(...argv: string[]): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, { stdout: (text) => (stdout += text), stderr: (text) => (stderr += text), stderrIsTty: false });
  return { code, stdout, stderr };
}

export async function ok(...argv: string[]): Promise<Run> {
  const result = await run(...argv);
  assert.equal(result.code, 0, `gate-provision ${argv.join(' ')}: ${result.stderr}`);
  return result;
}

/** Every file and folder under dir, hidden ones too, with its mode and content hash. */
export function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (folder: string): void => {
    for (const name of fs.readdirSync(folder).sort()) {
      const full = path.join(folder, name);
      const stat = fs.statSync(full);
      const key = path.relative(dir, full);
      if (stat.isDirectory()) {
        out[`${key}/`] = (stat.mode & 0o777).toString(8);
        walk(full);
      } else {
        out[key] = `${(stat.mode & 0o777).toString(8)} ${createHash('sha256').update(fs.readFileSync(full)).digest('hex')}`;
      }
    }
  };
  walk(dir);
  return out;
}

/** The command refuses with this exit code and message, and changes nothing under dir. */
export async function refuses(dir: string, code: 1 | 2, message: RegExp, ...argv: string[]): Promise<Run> {
  const before = snapshot(dir);
  const result = await run(...argv);
  assert.equal(result.code, code, `gate-provision ${argv.join(' ')}: exit ${result.code}, stderr ${result.stderr}`);
  assert.match(result.stderr, message);
  assert.deepEqual(snapshot(dir), before, `gate-provision ${argv.join(' ')} changed the folder`);
  return result;
}
