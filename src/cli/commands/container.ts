// podns run | exec | logs | stop | ps — containers in pods (src/container).
import { PodnsError } from '../../errors.js';
import {
  chooseContainer, commandText, containerLogs, DEFAULT_PIDS_LIMIT, defaultedMessage, execInContainer, LIMIT_FLAGS, parseLimitFlags,
  parseSecurityOpts, parseUser, psRows, runContainer, stopContainers,
} from '../../container/index.js';
import { RESTART_POLICIES, validateRestartPolicy } from '../../container/config.js';
import { parseLogMaxFiles, parseLogMaxSize } from '../../container/log-limits.js';
import { parseVolumeFlag } from '../../container/mounts.js';
import { DEFAULT_GRACE_SECONDS } from '../../pod/delete.js';
import { readPod } from '../../pod/store.js';
import { validateName } from '../../state/names.js';
import { parseCommand, parseKeyValues } from '../args.js';
import type { Command } from '../command.js';
import { age, json, table, stdout, stderr } from '../output.js';
import { pullDisplay } from '../pull-progress.js';
import { parseRunPull } from '../../image/pull-policy.js';
import { attachTerminal } from '../attach-terminal.js';

const out = (s: string): void => { stdout.write(s); };

function onePod(command: string, positionals: string[]): string {
  if (positionals.length !== 1) {
    throw new PodnsError('EUSAGE', `give exactly one pod name; see 'podns ${command} --help'`);
  }
  return validateName('pod', positionals[0]!);
}

/** -c NAME or kubectl's default; says on stderr which one it took when it chose among several. */
function pickContainer(root: string, pod: string, requested: string | undefined): string {
  const rec = readPod({ root, name: pod });
  const c = chooseContainer(rec, requested);
  if (c.defaulted) stderr.write(defaultedMessage(rec, c.name));
  return c.name;
}

const run: Command = {
  name: 'run',
  summary: 'start a container in a pod (the pod is created first when it does not exist)',
  usage: `Usage: podns run POD --name NAME [--image IMAGE | --rootfs DIR] [OPTIONS] -- CMD [ARG...]

Starts CMD detached in the pod's network, IPC and UTS namespaces, with its own mount namespace, and
returns once it runs. A pod that does not exist is created first (bridge network, as 'podns create POD').
With --image or --rootfs the container gets that root filesystem (/proc, a minimal /dev, read-only /sys,
the pod's /etc/hosts, /etc/hostname and /etc/resolv.conf); without, it sees the host's files.
Its own pid namespace (the watcher is its init) unless the pod shares one (podns create --share-pid).
Output goes to a log: podns logs POD -c NAME.

Options:
  --name NAME                the container's name (a DNS-1123 label), unique in the pod
  --image IMAGE              an image (nginx, host:port/name:tag, name@sha256:...): from the store, pulled
                             from its registry when missing
  --pull WHEN                missing (default): pull when the store has no such image; always: ask the
                             registry each time (a stored image is used if it cannot be reached); never
  --rootfs DIR               a directory holding a root filesystem
  -e, --env K=V              environment variable (repeatable)
  -w, --workdir DIR          working directory (default: the image's, else /)
  -u, --user UID[:GID]       numeric user (and group) to run as
  --restart POLICY           Never (default), OnFailure or Always; restarts back off 1s, 2s, 4s... up to 5m
  -v, --volume HOST:CTR[:OPTS] mount host path HOST (recursively) at CTR in the container (repeatable);
                             OPTS: ro, and private (default), rslave or rshared propagation
  --read-only                the root filesystem is read-only (/dev, /dev/shm, /proc, the pod's /etc files stay)
  --cap-add CAP              add a capability (NET_ADMIN or CAP_NET_ADMIN, ALL; repeatable, or comma-separated)
  --cap-drop CAP             drop a capability from the default set (ALL: start from none)
  --privileged               every capability and no seccomp filter, masked paths or device limits
  --security-opt OPT         seccomp=unconfined (no filter), no-new-privileges (repeatable)
  --log-max-size SIZE        rotate the log at SIZE (default 10Mi; e.g. 512Ki, 10MiB, 1M = 10^6, bytes)
  --log-max-files N          log files kept, the previous run's included (default 5, at least 2);
                             the log never takes more than SIZE x N
  --memory SIZE              memory limit (b, k, m, g: 1024-based; e.g. 256m); over it, the OOM killer
                             ends the container: ps shows OOMKilled
  --memory-swap SIZE         memory plus swap (needs --memory; -1: unlimited swap; 0 or unset: swap
                             not limited by podns)
  --cpus N                   CPU limit in CPUs (e.g. 0.5: 50 ms per 100 ms period)
  --cpu-shares N             relative CPU weight against its siblings, 2-262144 (1024: one CPU's worth;
                             cgroup v2: cpu.weight by the kubelet's map)
  --cpuset-cpus LIST         the CPUs it may run on (e.g. 0-1,3)
  --pids-limit N             most processes and threads at once (default ${DEFAULT_PIDS_LIMIT}; -1 or 0: unlimited)
  -i, --interactive          keep the container's stdin open and attach yours to it: its end ends the
                             container's stdin (with -d: stays open for 'podns attach' sessions)
  -t, --tty                  give the container a terminal (a pty of its own /dev/pts) and attach yours
                             to it: raw mode, its size follows yours, ctrl-p ctrl-q detaches
  -d, --detach               with -i or -t: start it and return (attach later: podns attach)
  -o json|name               print the container's config and status, or container/NAME
Root in a container keeps podman's default capabilities (CHOWN, DAC_OVERRIDE, FOWNER, FSETID, KILL,
NET_BIND_SERVICE, SETFCAP, SETGID, SETPCAP, SETUID, SYS_CHROOT) and runs under Docker's default seccomp
filter: no mount, no module loading, no new user namespace, no raw sockets (ping works without them).
A non-root --user gets only the capabilities given with --cap-add.
Every container gets a cgroup (PARENT/POD/NAME under the pod's: see podns create --cgroup-parent), which
exec sessions join too; a limit this host's cgroups cannot enforce (a missing controller) is an error.
With an image, CMD [ARG...] replace the image's default arguments (CMD), as 'kubectl run -- ARGS' does;
the image's entrypoint stays.

With -i or -t (and no -d) podns stays attached until the container exits, and exits with its code.

Example:
  podns run web --name www --rootfs ./busybox -- httpd -f -p 80
  podns run web --name shell -it --rootfs ./busybox -- sh
`,
  async run(argv) {
    const p = parseCommand<{
      name?: string; image?: string; pull?: string; rootfs?: string; env?: string[]; workdir?: string; user?: string; restart?: string;
      'read-only'?: boolean; volume?: string[];
      'cap-add'?: string[]; 'cap-drop'?: string[]; privileged?: boolean; 'security-opt'?: string[];
      'log-max-size'?: string; 'log-max-files'?: string;
      memory?: string; 'memory-swap'?: string; cpus?: string; 'cpu-shares'?: string; 'cpuset-cpus'?: string; 'pids-limit'?: string;
      interactive?: boolean; tty?: boolean; detach?: boolean;
    }>('run', argv, {
      interactive: { type: 'boolean', short: 'i' },
      tty: { type: 'boolean', short: 't' },
      detach: { type: 'boolean', short: 'd' },
      name: { type: 'string' },
      image: { type: 'string' },
      pull: { type: 'string' },
      rootfs: { type: 'string' },
      env: { type: 'string', short: 'e', multiple: true },
      workdir: { type: 'string', short: 'w' },
      user: { type: 'string', short: 'u' },
      restart: { type: 'string' },
      'read-only': { type: 'boolean' },
      volume: { type: 'string', short: 'v', multiple: true },
      'cap-add': { type: 'string', multiple: true },
      'cap-drop': { type: 'string', multiple: true },
      privileged: { type: 'boolean' },
      'security-opt': { type: 'string', multiple: true },
      'log-max-size': { type: 'string' },
      'log-max-files': { type: 'string' },
      ...LIMIT_FLAGS,
    }, { stopAtFirstPositional: 1 });
    const pod = onePod('run', p.positionals);
    const v = p.values;
    if (v.name === undefined) throw new PodnsError('EUSAGE', "give the container a name with --name NAME; see 'podns run --help'");
    if (v.image === undefined && v.rootfs === undefined && p.rest.length === 0) {
      throw new PodnsError('EUSAGE', "no command: give it after --, e.g. podns run POD --name NAME -- sleep 1000");
    }
    const user = v.user !== undefined ? parseUser(v.user) : undefined;
    if (v.restart !== undefined && !(RESTART_POLICIES as readonly string[]).includes(v.restart)) {
      throw new PodnsError('EUSAGE', `invalid --restart "${v.restart}": use Never, OnFailure or Always`);
    }
    const restartPolicy = validateRestartPolicy(v.restart);
    const security = parseSecurityOpts(v['security-opt'] ?? []);
    // podman takes --cap-add A,B as well as --cap-add A --cap-add B
    const capList = (l: string[] | undefined) => l?.flatMap((x) => x.split(',')).filter((x) => x !== '');
    const capAdd = capList(v['cap-add']);
    const capDrop = capList(v['cap-drop']);
    const logMaxSize = v['log-max-size'] !== undefined ? parseLogMaxSize(v['log-max-size']) : undefined;
    const logMaxFiles = v['log-max-files'] !== undefined ? parseLogMaxFiles(v['log-max-files']) : undefined;
    const limits = parseLimitFlags(v);
    if (v.pull !== undefined && v.image === undefined) throw new PodnsError('EUSAGE', '--pull goes with --image: it says when to pull that image');
    const pull = parseRunPull(v.pull ?? 'missing');
    const display = pullDisplay(stderr, true);
    // docker's and kubectl's run -i: the attached session's end of input ends the container's (stdinOnce)
    const interactive = v.interactive === true;
    const attach = (interactive || v.tty === true) && v.detach !== true;
    const res = await runContainer({
      root: p.globals.root,
      store: p.globals.store,
      pod,
      name: v.name,
      ...(v.image !== undefined ? {
        image: v.image, pull,
        pullOptions: {
          ...(display.onProgress !== undefined ? { onProgress: display.onProgress } : {}),
          onWarning: (line: string) => stderr.write(`podns run: warning: ${line}\n`),
        },
      } : {}),
      ...(v.rootfs !== undefined ? { rootfs: v.rootfs } : {}),
      ...(p.rest.length > 0 ? { args: p.rest } : {}),
      env: parseKeyValues(v.env, 'environment variable', 'run'),
      ...(v.workdir !== undefined ? { workingDir: v.workdir } : {}),
      ...(user !== undefined ? { uid: user.uid, ...(user.gid !== undefined ? { gid: user.gid } : {}) } : {}),
      ...(restartPolicy !== undefined ? { restartPolicy } : {}),
      ...(v['read-only'] === true ? { readOnlyRootFilesystem: true } : {}),
      ...(v.volume !== undefined ? { mounts: v.volume.map(parseVolumeFlag) } : {}),
      ...(capAdd !== undefined ? { capAdd } : {}),
      ...(capDrop !== undefined ? { capDrop } : {}),
      ...(v.privileged === true ? { privileged: true } : {}),
      ...security,
      ...(logMaxSize !== undefined ? { logMaxSize } : {}),
      ...(logMaxFiles !== undefined ? { logMaxFiles } : {}),
      ...limits,
      ...(interactive ? { stdin: true, ...(attach ? { stdinOnce: true } : {}) } : {}),
      ...(v.tty === true ? { tty: true } : {}),
    });
    display.finish();
    if (attach) {
      // a tty's output since the start comes first (its last 4 KiB: a shell's first prompt, printed before we connected)
      return attachTerminal({ root: p.globals.root, pod, container: res.config.name, stdin: interactive, replay: true });
    }
    if (p.globals.output === 'json') out(json(res));
    else if (p.globals.output === 'name') out(`container/${res.config.name}\n`);
    else out(`container/${res.config.name} started in pod/${pod} (pid ${res.status.pid})\n`);
    return 0;
  },
};

const exec: Command = {
  name: 'exec',
  summary: 'run a command inside a running container',
  usage: `Usage: podns exec [-i] [-t] POD [-c NAME] -- CMD [ARG...]

Runs CMD in all the namespaces of the container (network, IPC, UTS, pid, mount: its root filesystem)
with its environment and working directory. podns exits with CMD's exit status.

Options:
  -c, --container NAME  which container (default: the pod's kubectl.kubernetes.io/default-container
                        annotation, else the first)
  -i, --stdin           pass stdin through (otherwise CMD reads /dev/null)
  -t, --tty             give CMD a terminal (a pty whose size follows yours)

Example:
  podns exec -it two-containers -c client -- sh
`,
  async run(argv) {
    const p = parseCommand<{ container?: string; stdin?: boolean; tty?: boolean }>('exec', argv, {
      container: { type: 'string', short: 'c' },
      stdin: { type: 'boolean', short: 'i' },
      tty: { type: 'boolean', short: 't' },
    }, { stopAtFirstPositional: 1 });
    const pod = onePod('exec', p.positionals);
    if (p.rest.length === 0) throw new PodnsError('EUSAGE', "no command: give it after --, e.g. podns exec POD -- sh");
    const container = pickContainer(p.globals.root, pod, p.values.container);
    return execInContainer({
      root: p.globals.root, pod, container, argv: p.rest, tty: p.values.tty === true, interactive: p.values.stdin === true,
    });
  },
};

const attach: Command = {
  name: 'attach',
  summary: "attach your terminal to a running container's main process",
  usage: `Usage: podns attach POD [-c NAME] [--no-stdin]
       podns attach POD/NAME

Joins your stdin, stdout and stderr to the container's main process from now on, until it exits (podns
then exits with its code). The container must have been run with -i (stdin) or -t (a terminal), or come
from a manifest or the CRI with stdin or tty. With a terminal: raw mode, the container's terminal takes
your size, and ctrl-p ctrl-q detaches, leaving it running. The end of a piped stdin ends the container's
stdin when it was started attached with -i (stdinOnce), else only this session.

Options:
  -c, --container NAME  which container (default as for exec)
  --no-stdin            do not send your stdin (output only)
`,
  async run(argv) {
    const p = parseCommand<{ container?: string; 'no-stdin'?: boolean }>('attach', argv, {
      container: { type: 'string', short: 'c' },
      'no-stdin': { type: 'boolean' },
    });
    // POD/NAME as well as POD -c NAME
    const [first, ...others] = p.positionals;
    const slash = first?.indexOf('/') ?? -1;
    const positionals = slash > 0 ? [first!.slice(0, slash), ...others] : p.positionals;
    if (slash > 0 && p.values.container !== undefined) throw new PodnsError('EUSAGE', 'give the container either as POD/NAME or with -c NAME, not both');
    const pod = onePod('attach', positionals);
    const container = pickContainer(p.globals.root, pod, slash > 0 ? validateName('container', first!.slice(slash + 1)) : p.values.container);
    return attachTerminal({ root: p.globals.root, pod, container, stdin: p.values['no-stdin'] !== true });
  },
};

const logs: Command = {
  name: 'logs',
  summary: "print a container's output",
  usage: `Usage: podns logs [-f] [--tail N] [--timestamps] [--previous] POD [-c NAME]

Prints what the container wrote, stdout to stdout and stderr to stderr, in order. The log rotates at
the container's --log-max-size (podns run) and keeps --log-max-files files, the previous run's included:
what rotated out beyond them is gone, as with kubelet.

Options:
  -c, --container NAME  which container (default as for exec)
  -f, --follow          keep printing until the container ends
  --tail N              only the last N lines
  --timestamps          start each line with its time (RFC 3339, UTC)
  -p, --previous        the run before the last restart
`,
  async run(argv) {
    const p = parseCommand<{ container?: string; follow?: boolean; tail?: string; timestamps?: boolean; previous?: boolean }>('logs', argv, {
      container: { type: 'string', short: 'c' },
      follow: { type: 'boolean', short: 'f' },
      tail: { type: 'string' },
      timestamps: { type: 'boolean' },
      previous: { type: 'boolean', short: 'p' },
    });
    const pod = onePod('logs', p.positionals);
    let tail: number | undefined;
    if (p.values.tail !== undefined) {
      if (!/^-?\d+$/.test(p.values.tail) || Number(p.values.tail) < -1) {
        throw new PodnsError('EUSAGE', `invalid --tail "${p.values.tail}": give a number of lines, e.g. --tail 20`);
      }
      tail = Number(p.values.tail);
    }
    const container = pickContainer(p.globals.root, pod, p.values.container);
    const ac = new AbortController();
    const stop = (): void => ac.abort();
    process.once('SIGINT', stop);
    try {
      await containerLogs({
        root: p.globals.root, pod, container, follow: p.values.follow === true, timestamps: p.values.timestamps === true,
        previous: p.values.previous === true, signal: ac.signal, ...(tail !== undefined ? { tail } : {}),
        // synchronous writes: printing a large log holds no more than a batch in memory
        out: { stdout, stderr },
      });
    } finally {
      process.off('SIGINT', stop);
    }
    return 0;
  },
};

const stop: Command = {
  name: 'stop',
  summary: "stop a pod's containers (SIGTERM, then SIGKILL after the grace period)",
  usage: `Usage: podns stop POD [-c NAME]... [--grace S]

Stops the named containers (default: all of the pod's): SIGTERM, no more restarts, SIGKILL after
S seconds (default ${DEFAULT_GRACE_SECONDS}). The pod itself stays; 'podns delete POD' removes it.
`,
  async run(argv) {
    const p = parseCommand<{ container?: string[]; grace?: string }>('stop', argv, {
      container: { type: 'string', short: 'c', multiple: true },
      grace: { type: 'string' },
    });
    const pod = onePod('stop', p.positionals);
    let grace = DEFAULT_GRACE_SECONDS;
    if (p.values.grace !== undefined) {
      grace = Number(p.values.grace);
      if (!/^\d+(\.\d+)?$/.test(p.values.grace) || !Number.isFinite(grace)) {
        throw new PodnsError('EUSAGE', `invalid --grace "${p.values.grace}": give seconds, 0 or more`);
      }
    }
    const rec = readPod({ root: p.globals.root, name: pod });
    const names = p.values.container ?? rec.containers;
    for (const n of names) chooseContainer(rec, n);
    await stopContainers({ root: p.globals.root, pod, names, grace });
    for (const n of names) out(`container/${n} stopped\n`);
    return 0;
  },
};

const ps: Command = {
  name: 'ps',
  summary: 'list containers (and each pod\'s pause, as CONTAINER "POD")',
  usage: `Usage: podns ps [POD] [-o json|wide]

One row per pod for its pause (CONTAINER "POD"), then one per container:
POD, CONTAINER, PID (on the host), STATUS (Running, Exited (CODE), Restarting), STARTED, COMMAND.
`,
  async run(argv) {
    const p = parseCommand('ps', argv, {});
    if (p.positionals.length > 1) throw new PodnsError('EUSAGE', "give at most one pod name; see 'podns ps --help'");
    const pod = p.positionals[0] !== undefined ? validateName('pod', p.positionals[0]) : undefined;
    const rows = psRows({ root: p.globals.root, pod });
    if (p.globals.output === 'json') {
      out(json(rows));
      return 0;
    }
    if (p.globals.output === 'name') {
      for (const r of rows) if (r.container !== 'POD') out(`${r.pod}/${r.container}\n`);
      return 0;
    }
    const wide = p.globals.output === 'wide';
    const cmd = (argv: string[]): string => {
      const t = commandText(argv);
      return wide || t.length <= 40 ? t : t.slice(0, 39) + '…';
    };
    out(table(
      ['POD', 'CONTAINER', 'PID', 'STATUS', 'RESTARTS', 'STARTED', 'COMMAND'],
      rows.map((r) => [
        r.pod, r.container, r.pid === null ? '-' : String(r.pid), r.status, r.container === 'POD' ? '-' : String(r.restartCount),
        r.startedAt === null ? '-' : `${age(r.startedAt)} ago`, cmd(r.command),
      ]),
    ));
    return 0;
  },
};

export const commands: Command[] = [run, exec, attach, logs, stop, ps];
