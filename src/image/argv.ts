// Which argv a container runs, by Kubernetes' rules (kubelet's kuberuntime, "Notes" in the Pod docs):
//   command set              → command + args            (the image's ENTRYPOINT and CMD are both ignored)
//   only args set            → image entrypoint + args    (the image's CMD is replaced)
//   neither                  → image entrypoint + cmd
// "Set" means a non-empty list, as kubelet tests len() > 0: `command: []` is the same as no command.
import { PodnsError } from '../errors.js';
import type { ImageConfig } from './records.js';

export function resolveArgv(config: ImageConfig, command?: string[], args?: string[], ref?: string): string[] {
  let argv: string[];
  if (command !== undefined && command.length > 0) {
    argv = [...command, ...(args ?? [])];
  } else if (args !== undefined && args.length > 0) {
    argv = [...(config.entrypoint ?? []), ...args];
  } else {
    argv = [...(config.entrypoint ?? []), ...(config.cmd ?? [])];
  }
  if (argv.length === 0) {
    const which = ref !== undefined ? `image "${ref}"` : 'the image';
    throw new PodnsError('ENOCOMMAND',
      `no command: ${which} has no entrypoint or cmd; give one (command: in the manifest, or after -- on the command line) or import the image with --cmd '["sh"]'`);
  }
  if (argv[0] === '') throw new PodnsError('ENOCOMMAND', 'no command: the program name is an empty string');
  return argv;
}
