/**
 * Atomic changes to a site folder. A change is first written in full into a
 * staging folder next to its targets (same filesystem, so a rename is
 * atomic), every file and folder fsynced; then each target is renamed into
 * place, what it replaces moved aside into the staging folder first. If a
 * step fails, the steps done are undone in reverse, so the folder is left as
 * it was; the staging folder, with whatever was replaced, is removed last.
 *
 * A power cut during the renames can still leave some of them done: the
 * caller orders them so that site.json, the record of the site, goes last.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, mkdtempSync, openSync, renameSync, rmSync, writeSync, fchmodSync } from 'node:fs';
import { dirname, join, resolve, sep } from 'node:path';

/** Called before each write and rename; tests throw from it to make a step fail. */
export type StepHook = (step: 'write' | 'rename', path: string) => void;

export const KEY_MODE = 0o600;
export const FILE_MODE = 0o644;
/** Folders holding private keys: owner only. */
export const PRIVATE_DIR_MODE = 0o700;

export interface FileContent {
  data: string | Buffer;
  mode: number;
}

/** A folder tree to write: relative path → content, or "dir" for a folder that may stay empty. */
export type Tree = Record<string, FileContent | 'dir'>;

interface Step {
  target: string;
  /** Absent: the target is removed. */
  staged?: string;
}

interface Done {
  target: string;
  aside?: string;
  placed?: string;
}

/**
 * Stage a change with `stage`, then commit it; if staging throws, the
 * transaction is aborted and nothing is changed.
 */
export async function inTransaction<T>(root: string, hook: StepHook | undefined, stage: (transaction: Transaction) => T | Promise<T>): Promise<T> {
  const transaction = new Transaction(root, hook);
  let result: T;
  try {
    result = await stage(transaction);
  } catch (error) {
    transaction.abort();
    throw error;
  }
  transaction.commit();
  return result;
}

export class Transaction {
  readonly #stage: string;
  readonly #steps: Step[] = [];
  readonly #hook: StepHook | undefined;
  #count = 0;
  #closed = false;

  /** @param root the folder the targets live in (or under); the staging folder is made in it. */
  constructor(root: string, hook?: StepHook) {
    this.#hook = hook;
    mkdirSync(root, { recursive: true });
    this.#stage = mkdtempSync(join(resolve(root), '.gate-provision-stage-'));
    mkdirSync(join(this.#stage, 'new'));
    mkdirSync(join(this.#stage, 'old'));
  }

  /** Stage one file to be put at target. */
  putFile(target: string, content: FileContent): void {
    const staged = this.#nextStaged();
    writeDurable(staged, content, this.#hook);
    this.#steps.push({ target: resolve(target), staged });
  }

  /** Stage a whole folder to be put at target (replacing any folder there). */
  putTree(target: string, tree: Tree, mode = PRIVATE_DIR_MODE): void {
    const staged = this.#nextStaged();
    writeTree(staged, tree, mode, this.#hook);
    this.#steps.push({ target: resolve(target), staged });
  }

  /** Stage the removal of a file or folder. */
  remove(target: string): void {
    this.#steps.push({ target: resolve(target) });
  }

  /** Put every staged target in place, in the order staged; all or nothing. */
  commit(): void {
    if (this.#closed) throw new Error('transaction already closed');
    const done: Done[] = [];
    try {
      for (const [i, step] of this.#steps.entries()) {
        const entry: Done = { target: step.target };
        done.push(entry);
        if (existsSync(step.target)) {
          const aside = join(this.#stage, 'old', String(i));
          this.#hook?.('rename', step.target);
          renameSync(step.target, aside);
          entry.aside = aside;
        }
        if (step.staged) {
          this.#hook?.('rename', step.target);
          renameSync(step.staged, step.target);
          entry.placed = step.staged;
        }
      }
      for (const folder of new Set(this.#steps.map((step) => dirname(step.target)))) syncFolder(folder);
    } catch (error) {
      this.#undo(done);
      this.abort();
      throw error;
    }
    this.abort();
  }

  /** Drop the staging folder: nothing staged is applied (after commit: what was replaced goes). */
  abort(): void {
    if (this.#closed) return;
    this.#closed = true;
    rmSync(this.#stage, { recursive: true, force: true });
  }

  #undo(done: Done[]): void {
    for (const entry of done.reverse()) {
      // Best effort: each undo is a rename back within one filesystem.
      try {
        if (entry.placed) renameSync(entry.target, entry.placed);
        if (entry.aside) renameSync(entry.aside, entry.target);
      } catch {
        // keep undoing the others
      }
    }
  }

  #nextStaged(): string {
    if (this.#closed) throw new Error('transaction already closed');
    return join(this.#stage, 'new', String(this.#count++));
  }
}

/** Write a file and flush it to disk before anyone renames it into place. */
function writeDurable(path: string, content: FileContent, hook?: StepHook): void {
  hook?.('write', path);
  const fd = openSync(path, 'wx', content.mode);
  try {
    // The mode given to open is cut by the umask; a key must end up exactly 0600.
    fchmodSync(fd, content.mode);
    const bytes = typeof content.data === 'string' ? Buffer.from(content.data, 'utf8') : content.data;
    let offset = 0;
    while (offset < bytes.length) offset += writeSync(fd, bytes, offset);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function writeTree(root: string, tree: Tree, mode: number, hook?: StepHook): void {
  mkdirSync(root, { mode });
  const folders = new Set<string>([root]);
  for (const [path, content] of Object.entries(tree).sort(([a], [b]) => a.localeCompare(b))) {
    const target = join(root, path);
    if (!target.startsWith(root + sep)) throw new Error(`path ${path} leaves its folder`);
    const folder = content === 'dir' ? target : dirname(target);
    mkdirSync(folder, { recursive: true, mode });
    for (let f = folder; !folders.has(f); f = dirname(f)) folders.add(f);
    if (content !== 'dir') writeDurable(target, content, hook);
  }
  // Deepest first, so each folder's entries are durable before its parent's.
  for (const folder of [...folders].sort((a, b) => b.length - a.length)) syncFolder(folder);
}

/** fsync a folder, so the names just written or renamed in it survive a power cut. */
export function syncFolder(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Write a new folder, or replace one, in one rename: staged next to target.
 * Used by init, whose site folder does not exist yet.
 */
export function writeFolderAtomically(target: string, tree: Tree, options: { hook?: StepHook; mode?: number } = {}): void {
  const absolute = resolve(target);
  const transaction = new Transaction(dirname(absolute), options.hook);
  try {
    transaction.putTree(absolute, tree, options.mode);
  } catch (error) {
    transaction.abort();
    throw error;
  }
  transaction.commit();
}

