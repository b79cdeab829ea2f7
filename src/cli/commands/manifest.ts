// podns apply -f FILE|- — Kubernetes v1 Pod manifests (src/manifest). `podns delete -f` lives with the pod
// commands and calls deleteFromManifest.
import { PodnsError } from '../../errors.js';
import { parseCommand } from '../args.js';
import type { Command } from '../command.js';
import { stderr, stdout } from '../output.js';
import { pullDisplay } from '../pull-progress.js';

const usage = `Usage:
  podns apply -f FILE|- [--dry-run] [--subnet CIDR] [--bridge NAME] [--gateway IP] [-o name]

Creates the pods of a Kubernetes manifest (apiVersion: v1, kind: Pod; several documents separated by ---,
or a v1 List) and runs their containers in order. Images are pulled first, as each container's
imagePullPolicy says (Kubernetes' default: Always for :latest or no tag, else IfNotPresent). The whole file
is checked first: a YAML or schema error, an image that cannot be had, or a pod that exists with another
spec creates nothing.
Fields podns does not implement are named in a warning with their line, and ignored.

  -f, --filename FILE   the manifest; - reads stdin
  --dry-run             check everything, create nothing
  --subnet CIDR         bridge network options for the pods of this file (as podns create)
  --bridge NAME, --gateway IP

Supported: metadata.{name,labels,annotations}; spec.{containers,hostname,shareProcessNamespace,restartPolicy,
hostNetwork,securityContext.runAsUser/runAsGroup,volumes[].{hostPath,emptyDir.{medium,sizeLimit}}};
containers[].{name,image,imagePullPolicy,command,args,env[].{name,value},workingDir,
ports[].{containerPort,hostPort,protocol},resources,volumeMounts,stdin,stdinOnce,tty,
securityContext.{runAsUser,runAsGroup,runAsNonRoot,privileged,capabilities,allowPrivilegeEscalation,
readOnlyRootFilesystem,seccompProfile}}.

Pods are immutable: applying the same spec again prints "pod/NAME unchanged"; to change one, delete it first:
  podns delete -f FILE
`;

export const commands: Command[] = [
  {
    name: 'apply',
    summary: 'create the pods of a Kubernetes v1 Pod manifest (-f FILE|-)',
    usage,
    async run(argv) {
      const p = parseCommand<{ filename?: string; 'dry-run'?: boolean; subnet?: string; bridge?: string; gateway?: string }>(
        'apply', argv, {
          filename: { type: 'string', short: 'f' }, 'dry-run': { type: 'boolean' },
          subnet: { type: 'string' }, bridge: { type: 'string' }, gateway: { type: 'string' },
        });
      if (p.values.filename === undefined) {
        throw new PodnsError('EUSAGE', 'podns apply: give the manifest with -f FILE (or -f - for stdin)');
      }
      if (p.positionals.length > 0) {
        throw new PodnsError('EUSAGE', `podns apply: unexpected argument "${p.positionals[0]}"; give the manifest with -f FILE`);
      }
      // Loaded on use: the pod and container code it pulls in is not needed by every command.
      const { applyManifest, ManifestError } = await import('../../manifest/index.js');
      const progress = pullDisplay(stderr, p.globals.output !== 'name');
      try {
        await applyManifest({
          root: p.globals.root,
          store: p.globals.store,
          file: p.values.filename,
          dryRun: p.values['dry-run'] ?? false,
          nameOnly: p.globals.output === 'name',
          out: stdout,
          err: stderr,
          ...(progress.onProgress !== undefined ? { onPullProgress: progress.onProgress } : {}),
          ...(p.values.subnet !== undefined ? { subnet: p.values.subnet } : {}),
          ...(p.values.bridge !== undefined ? { bridge: p.values.bridge } : {}),
          ...(p.values.gateway !== undefined ? { gateway: p.values.gateway } : {}),
        });
      } catch (err) {
        // One line per problem, each with its file and line, so all of them can be fixed in one go.
        if (err instanceof ManifestError && err.problems.length > 1) {
          for (const line of err.problems) stderr.write(`podns apply: ${line}\n`);
          return 1;
        }
        throw err;
      } finally {
        progress.finish();
      }
      return 0;
    },
  },
];
