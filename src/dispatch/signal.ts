/** A wake-up signal: `wait(ms)` resolves after `ms` or as soon as `notify()` is called. */
export class Signal {
  private waiters: (() => void)[] = [];

  /** Resolves after `ms`, or earlier on notify(). */
  wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w !== done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.waiters.push(done);
    });
  }

  /** Wakes every waiter. */
  notify(): void {
    for (const w of [...this.waiters]) w();
  }
}
