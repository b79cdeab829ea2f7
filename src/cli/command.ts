// A CLI command: one group of them per file under src/cli/commands/.
export interface Command {
  name: string;
  aliases?: string[];
  /** one line for `podns --help` */
  summary: string;
  /** full usage text for `podns NAME --help` */
  usage: string;
  /** returns the exit code */
  run(argv: string[]): Promise<number>;
}
