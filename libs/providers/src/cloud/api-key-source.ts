import { readFile, stat } from 'node:fs/promises';

/** Where a cloud provider's API key comes from; asked before every request. Never log what it returns. */
export interface ApiKeySource {
  current(): Promise<string>;
}

export interface ApiKeyFileEvents {
  /** The file changed and the new key is in use (the key itself is never passed). */
  onReload?: (path: string) => void;
  /** The file could not be read or was empty; the previous key stays in use. */
  onReadError?: (path: string, reason: string) => void;
}

/**
 * An API key kept in a file (a mounted secret), re-read without a restart: before every request the
 * file is stat'ed, and when its inode, size or modification time changed it is read again, so the
 * request right after a rotation already uses the new key. A stat per request costs microseconds next
 * to an HTTP call, needs no watcher to close, and follows the symlink swap Kubernetes does on secret
 * updates. While the file is missing or empty (mid-rotation, a non-atomic write) the last key stays.
 */
export class ApiKeyFile implements ApiKeySource {
  private key: string;
  private version: string;

  private constructor(
    readonly path: string,
    key: string,
    version: string,
    private readonly events: ApiKeyFileEvents,
  ) {
    this.key = key;
    this.version = version;
  }

  /** Reads the key once; rejects if the file is unreadable or empty (a start-up error). */
  static async open(path: string, events: ApiKeyFileEvents = {}): Promise<ApiKeyFile> {
    const version = versionOf(await stat(path));
    const key = (await readFile(path, 'utf8')).trim();
    if (!key) throw new Error(`API key file ${path} is empty`);
    return new ApiKeyFile(path, key, version, events);
  }

  async current(): Promise<string> {
    try {
      const version = versionOf(await stat(this.path));
      if (version !== this.version) {
        const key = (await readFile(this.path, 'utf8')).trim();
        if (!key) {
          this.events.onReadError?.(this.path, 'the file is empty');
        } else {
          const changed = key !== this.key;
          this.key = key;
          this.version = version;
          if (changed) this.events.onReload?.(this.path);
        }
      }
    } catch (err) {
      this.events.onReadError?.(this.path, (err as NodeJS.ErrnoException).code ?? 'unreadable');
    }
    return this.key;
  }
}

function versionOf(s: { ino: number; size: number; mtimeMs: number; ctimeMs: number }): string {
  return `${s.ino}:${s.size}:${s.mtimeMs}:${s.ctimeMs}`;
}
