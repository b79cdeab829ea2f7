// A set that keeps at most `max` entries, forgetting the oldest first: a memo of facts seen for good (a
// process that ended, a run that was stopped) whose loss only costs a look again.
export class BoundedSet<T> {
  private readonly items = new Set<T>();

  constructor(private readonly max: number) {}

  add(v: T): void {
    if (this.items.size >= this.max) this.items.delete(this.items.values().next().value as T);
    this.items.add(v);
  }

  has(v: T): boolean {
    return this.items.has(v);
  }
}
