// The tour in English. Written for podns; the lesson it follows is in Traditional Chinese (text.zh-TW.ts).
import type { TourText } from './text.js';

export const en: TourText = {
  lang: 'en',
  title: 'podns tour: the pause container, live',
  intro:
    "This tour replays a lesson about Kubernetes' pause container on the kernel you are running, with podns in " +
    'place of Docker and a cluster. It works inside a throwaway sandbox made for this run: a network namespace and a ' +
    'mount namespace of its own, a fresh /run and a podns state directory of its own. The bridge, the routes, the ' +
    'firewall rules and the pods all live in there and go away with it; the host is left as it was. Each step shows a ' +
    'command as you would type it, the output it really produced, and what that output means. Every claim is checked ' +
    'while the tour runs (marked ✓). If one does not hold, the tour stops, names it, and exits with status 1.',
  prepare: {
    title: 'Setting the stage',
    body: (f) =>
      'podns does not download images. The two images of the lesson are made here from the statically linked busybox ' +
      'binary: hwchiu/netutils only sleeps, which keeps a container alive to exec into, and nginx is busybox httpd ' +
      'serving one page. The lesson pings a real host on the internet; this tour stays on the machine, so it builds its ' +
      `own "outside": a network namespace named outside that holds ${f.outside}, an address from a range reserved for ` +
      'documentation, wired to the sandbox by a veth pair. Pods reach it through the podns bridge and its masquerade ' +
      'rule, the way they would reach the internet.',
  },
  steps: [
    {
      title: 'Two containers, one network stack',
      body: (f) =>
        'hwchiu is an ordinary pod: its pause got a new network namespace, and its eth0 was plugged into the ' +
        `${f.bridge} bridge. hwchiu2 was created with --network pod:hwchiu, the podns counterpart of Docker's ` +
        '--net=container:hwchiu: it gets no network namespace of its own and enters the one hwchiu already has. Nothing ' +
        `is copied or kept in step. Both views list interface ${f.ifindex}, eth0, with MAC ${f.mac} and address ` +
        `${f.ip}, because there is only one such interface. The ping left from hwchiu alone, yet hwchiu2 reports the ` +
        `same ${f.tx} transmitted packets. A counter belongs to an interface, and an interface belongs to a network ` +
        'namespace, not to whichever container is looking.',
    },
    {
      title: 'The owner goes away',
      body: (f) =>
        'Deleting hwchiu stopped its pause and removed its veth pair. hwchiu2 still holds the network namespace (the ' +
        `inode is still ${f.netIno}), so the namespace itself lives on. eth0 does not: it was set up for hwchiu and ` +
        'left with hwchiu, and hwchiu2 keeps nothing but lo, with no way out. Sharing the network of another container ' +
        'means depending on that container. If it is an application that can crash, be upgraded or be removed, ' +
        'everything attached to it is cut off along with it. That is the problem the pause container solves.',
    },
    {
      title: 'A pod: the pause holds the namespaces',
      body: (f) =>
        "The manifest is the lesson's two-containers pod. podns started the pause before anything else; the pause " +
        `created the pod's network, IPC and UTS namespaces, and eth0 with address ${f.podIp} was put into that network ` +
        'namespace. Then each container started with a root filesystem of its own (its own mount namespace, filled from ' +
        "its image) and joined the pause's network, IPC and UTS namespaces. That is why the client can fetch the web " +
        "server's page from 127.0.0.1: the loopback interface is part of the network namespace both of them joined, and " +
        "the web server's log records a request that came from 127.0.0.1. When a pod has more than one container, logs " +
        'and exec need -c to say which one you mean, as with kubectl.',
    },
    {
      title: 'Who shares what',
      body: (f) =>
        "One row per process, one column per namespace type. Each cell is the namespace's inode number, the number " +
        'that readlink /proc/PID/ns/TYPE prints, and two processes are in the same namespace exactly when their numbers ' +
        "are equal. In the net, ipc and uts columns every row carries the pause's number: the client, the web server " +
        `and the exec session (the sleep started with podns exec, pid ${f.execPid}) all live in the pause's namespaces. ` +
        (f.ownPid
          ? 'The mnt and pid cells of the containers are marked *: each container has its own view of the filesystem and ' +
            'its own numbering of processes. '
          : "The mnt cells of the containers are marked *: each container has its own view of the filesystem, while the " +
            "pid namespace is the pod's. ") +
        'The exec session shares these with the container it entered. cgroup, user and time are the host\'s in every ' +
        'row: podns does not separate them.',
    },
    {
      title: 'When the pause dies',
      body: (f) =>
        `kill -9 removed the pause (pid ${f.pausePid}), and podns get now reports the pod as Degraded: no process holds ` +
        "the pod's namespaces on its behalf any more. The containers did not notice. They keep running, and eth0 is " +
        'still there with the same index and address, because a namespace exists as long as something refers to it: ' +
        'the containers are inside it, and podns pinned it with a bind mount in its state directory when it created the ' +
        `pod. podns repair started a new pause (pid ${f.newPausePid}) inside those same namespaces; the network ` +
        `namespace is net:[${f.podNetIno}] before and after, and the pod is whole again without restarting a ` +
        'container. Kubernetes takes another road: when the kubelet finds a pod sandbox dead, it stops the containers, ' +
        'builds a new sandbox and starts them again, usually with a new IP. Either way, a process that does nothing but ' +
        'wait for a signal almost never dies on its own, and that is why the pause is kept so small.',
    },
  ],
  cleanup: {
    title: 'Cleaning up',
    body: () =>
      'Deleting the pods stops their pauses and containers and removes their veths, namespace pins and records. The ' +
      'outside namespace goes with the sandbox, and the sandbox goes when the tour exits.',
  },
  claims: {
    imagesImported: () => 'the images hwchiu/netutils and nginx are in the store',
    outsideUp: (f) => `the outside host ${f.outside} is up in its own network namespace`,
    podsRunning: () => 'hwchiu and hwchiu2 are Running',
    ping: (f) => `the ping from hwchiu to ${f.outside} got its replies`,
    sameNetns: (f) => `hwchiu and hwchiu2 are in one network namespace, net:[${f.netIno}]`,
    sameEth0: (f) => `both see the same eth0: index ${f.ifindex}, MAC ${f.mac}, address ${f.ip}`,
    sameTx: (f) => `both report the same TX packet count (${f.tx}), up by at least the 3 pings from ${f.txBefore}`,
    kernelCounters: (f) => `ifconfig inside hwchiu2, reading the kernel's /proc/net/dev, shows the same eth0, address and TX count (${f.tx})`,
    nsSurvives: (f) => `hwchiu2's network namespace is still net:[${f.netIno}]`,
    onlyLo: () => 'after hwchiu is deleted, hwchiu2 sees only lo (in podns net and in ifconfig)',
    podRunning: () => 'two-containers is Running with 2/2 containers ready',
    page: () => "the client fetched the web server's page from 127.0.0.1",
    logs: () => "the web server's log shows the request from 127.0.0.1",
    tableMatchesProc: () => 'every inode in the table is what /proc/PID/ns/TYPE shows for that process',
    sharedNetIpcUts: () => "both containers and the exec session are in the pause's net, ipc and uts namespaces",
    ownMnt: () => "each container has its own mnt namespace; the exec session has its container's",
    pidNs: (f) => f.ownPid ? 'each container has its own pid namespace' : "the containers are in the pod's pid namespace",
    hostRest: () => "cgroup, user and time are the host's for every process",
    execRow: (f) => `the exec session (pid ${f.execPid}) is listed under the client`,
    degraded: () => 'with the pause dead, podns get reports two-containers as Degraded',
    containersAlive: () => 'both containers are still running',
    eth0Kept: (f) => `eth0 is still in the pod, index ${f.ifindex}, address ${f.podIp}, in net:[${f.podNetIno}]`,
    stillTalk: () => 'the client still reaches the web server over 127.0.0.1',
    repaired: (f) => `after podns repair a new pause (pid ${f.newPausePid}) is in net:[${f.podNetIno}] and the pod is Running`,
    notRestarted: () => 'the containers kept their processes: none was restarted',
    nothingLeft: () => 'no pause or container process of the tour is left',
  },
  ui: {
    step: (n, total) => `Step ${n}/${total}`,
    pressEnter: 'Press Enter to continue…',
    passed: (n) => `All ${n} claims verified.`,
    failed: (claim) => `Claim not verified: ${claim}`,
    stopped: 'Tour stopped; cleaning up.',
    keep: (o) =>
      `--keep: the sandbox stays open until you press Enter. From another terminal, as root:\n` +
      `  nsenter -t ${o.pid} -n -m\n` +
      `  export PODNS_ROOT=${o.root} PODNS_NETNS_DIR=${o.netnsDir}\n` +
      `  ${o.podns} get; ${o.podns} ns; ${o.podns} net two-containers\n` +
      `Pressing Enter deletes the pods; the sandbox disappears when the tour exits.`,
  },
};
