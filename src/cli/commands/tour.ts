// podns tour — the pause-container lesson, live, in a throwaway sandbox (src/tour).
import { PodnsError } from '../../errors.js';
import { runInSandbox, runTour, textFor } from '../../tour/index.js';
import { parseCommand } from '../args.js';
import type { Command } from '../command.js';

const usage = `Usage:
  podns tour [--lang en|zh-TW] [--step] [--keep]

Runs the pause-container lesson live on this kernel, in a throwaway sandbox (a network and mount
namespace of its own, its own /run and podns state), so nothing on the host changes:
  1. two containers, the second joining the first's network (Docker's --net=container:)
  2. the owner is removed: the joiner keeps only lo
  3. a pod: the pause holds the namespaces, two containers talk over 127.0.0.1
  4. the namespace table: who shares what
  5. the pause is killed, and repaired
Each step shows the commands, their real output and an explanation, and checks every claim it makes:
the tour exits 0 only if all of them held. Needs root, and /bin/busybox (apt-get install busybox-static)
to build its images.

  --lang L   en (default) or zh-TW, the language of the lesson it comes from
  --step     wait for Enter between steps
  --keep     at the end, keep the pods until Enter and show how to enter the sandbox from another terminal
`;

export const commands: Command[] = [
  {
    name: 'tour',
    summary: 'the pause-container lesson, live, in a throwaway sandbox (--lang en|zh-TW)',
    usage,
    async run(argv) {
      const p = parseCommand<{ lang?: string; keep?: boolean; step?: boolean; 'in-sandbox'?: boolean }>('tour', argv, {
        lang: { type: 'string' }, keep: { type: 'boolean' }, step: { type: 'boolean' }, 'in-sandbox': { type: 'boolean' },
      });
      if (p.positionals.length > 0) throw new PodnsError('EUSAGE', `podns tour: unexpected argument "${p.positionals[0]}"; see 'podns tour --help'`);
      const lang = textFor(p.values.lang).lang;
      const o = { lang, keep: p.values.keep === true, step: p.values.step === true };
      return p.values['in-sandbox'] ? runInSandbox(o) : runTour(o);
    },
  },
];
