// Manifest parsing: pure, runs everywhere. Every problem must carry FILE:LINE.
import test from 'ava';
import { ManifestError, parseManifest, podNamesInManifest, expandVars } from '../../src/manifest/parse.js';
// the lesson's manifest (introduction/pod/pause.yaml), the one the tour applies
import { MANIFEST as LESSON } from '../../src/tour/stage.js';

function problems(text: string, file = 'pod.yaml'): string[] {
  try {
    parseManifest(text, file);
  } catch (err) {
    if (err instanceof ManifestError) return err.problems;
    throw err;
  }
  throw new Error('expected a ManifestError');
}

test('the lesson manifest', (t) => {
  const r = parseManifest(LESSON, 'pod.yaml');
  t.deepEqual(r.warnings, []);
  t.deepEqual(r.pods, [{
    name: 'two-containers',
    labels: { app: 'myapp' },
    annotations: {},
    shareProcessNamespace: false,
    restartPolicy: 'Always',
    hostNetwork: false,
    containers: [
      { name: 'client', image: 'hwchiu/netutils:latest', env: {}, ports: [] },
      { name: 'www-server', image: 'nginx:latest', env: {}, ports: [] },
    ],
    publish: [],
  }]);
  t.deepEqual(r.sources[0]!.containers, [{ line: 9, imageLine: 10 }, { line: 11, imageLine: 12 }]);
});

test('every supported field', (t) => {
  const r = parseManifest(`# comment
---
apiVersion: v1
kind: Pod
metadata:
  name: web
  namespace: default
  labels: {tier: front, "app.kubernetes.io/name": web, empty: ""}
  annotations:
    note: "any text: at all"
spec:
  hostname: box
  shareProcessNamespace: true
  restartPolicy: OnFailure
  securityContext: {runAsUser: 1000, runAsGroup: 1000}
  containers:
  - name: srv
    image: localhost:5000/team/srv:v2
    imagePullPolicy: IfNotPresent
    command: ["/bin/sh", "-c"]
    args: ["echo $(GREETING) $$(GREETING) $(UNSET)"]
    workingDir: /www
    env:
    - name: NAME
      value: world
    - name: GREETING
      value: hello $(NAME)
    - name: EMPTY
    ports:
    - containerPort: 80
      hostPort: 8080
    - containerPort: 53
      hostPort: 5353
      protocol: UDP
      name: dns
    - containerPort: 9090
    securityContext: {runAsUser: 0}
  - name: side
    image: busybox:1.36
---
apiVersion: v1
kind: Pod
metadata: {name: host}
spec:
  hostNetwork: true
  restartPolicy: Never
  containers:
  - {name: c, image: busybox, ports: [{containerPort: 8080, hostPort: 8080}]}
`, 'all.yaml');
  t.deepEqual(r.warnings, []);
  const [web, host] = r.pods;
  t.like(web, {
    name: 'web', hostname: 'box', shareProcessNamespace: true, restartPolicy: 'OnFailure', hostNetwork: false,
    labels: { tier: 'front', 'app.kubernetes.io/name': 'web', empty: '' },
    annotations: { note: 'any text: at all' },
    publish: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }, { hostPort: 5353, containerPort: 53, protocol: 'udp' }],
  });
  t.deepEqual(web!.containers[0], {
    name: 'srv', image: 'localhost:5000/team/srv:v2', imagePullPolicy: 'IfNotPresent',
    command: ['/bin/sh', '-c'],
    args: ['echo hello world $(GREETING) $(UNSET)'],
    env: { NAME: 'world', GREETING: 'hello world', EMPTY: '' },
    workingDir: '/www',
    ports: [
      { containerPort: 80, hostPort: 8080, protocol: 'TCP' },
      { containerPort: 53, hostPort: 5353, protocol: 'UDP', name: 'dns' },
      { containerPort: 9090, protocol: 'TCP' },
    ],
    runAsUser: 0, runAsGroup: 1000,
  }, 'container securityContext overrides the pod one field by field');
  t.deepEqual(web!.containers[1], { name: 'side', image: 'busybox:1.36', env: {}, ports: [], runAsUser: 1000, runAsGroup: 1000 });
  t.like(host, { name: 'host', hostNetwork: true, restartPolicy: 'Never', publish: [] });
});

test('a v1 List of pods, empty documents skipped', (t) => {
  const r = parseManifest(`---
apiVersion: v1
kind: List
items:
- {apiVersion: v1, kind: Pod, metadata: {name: a}, spec: {containers: [{name: c, image: x}]}}
- {apiVersion: v1, kind: Pod, metadata: {name: b}, spec: {containers: [{name: c, image: x}]}}
---
---
`, 'list.yaml');
  t.deepEqual(r.pods.map((p) => p.name), ['a', 'b']);
});

test('unknown and unsupported fields are warnings with their line', (t) => {
  const r = parseManifest(`apiVersion: v1
kind: Pod
metadata:
  name: w
  generateName: w-
spec:
  nodeName: node1
  volumes: []
  containers:
  - name: c
    image: busybox
    imagee: typo
    resources: {limits: {cpu: "1"}}
    imagePullPolicy: Always
    env:
    - name: IP
      valueFrom: {fieldRef: {fieldPath: status.podIP}}
    securityContext:
      procMount: Default
    ports:
    - {containerPort: 80, hostIP: 127.0.0.1}
status: {phase: Running}
`, 'w.yaml');
  t.deepEqual(r.warnings, [
    'w.yaml:5: warning: metadata.generateName is not supported by podns and is ignored (give metadata.name instead)',
    'w.yaml:7: warning: spec.nodeName is not supported by podns and is ignored',
    'w.yaml:12: warning: unknown field "spec.containers[0].imagee" (ignored)',
    'w.yaml:17: warning: spec.containers[0].env[0].valueFrom is not supported by podns (no API server to read it from); IP is not set',
    'w.yaml:19: warning: spec.containers[0].securityContext.procMount is not supported by podns and is ignored',
    'w.yaml:21: warning: spec.containers[0].ports[0].hostIP is not supported by podns and is ignored (host ports listen on every address)',
    'w.yaml:22: warning: status is ignored: it is written by the system, not applied',
  ]);
  t.deepEqual(r.pods[0]!.containers[0]!.env, {});
});

test('stdin, stdinOnce and tty: kept for the container (stdinOnce only with stdin, as kubelet reads it)', (t) => {
  const r = parseManifest(`apiVersion: v1
kind: Pod
metadata: {name: it}
spec:
  containers:
  - {name: a, image: busybox, stdin: true, stdinOnce: true, tty: true}
  - {name: b, image: busybox, stdinOnce: true}
  - {name: c, image: busybox, stdin: false, tty: false}
`, 'it.yaml');
  t.deepEqual(r.warnings, []);
  t.like(r.pods[0]!.containers[0], { stdin: true, stdinOnce: true, tty: true });
  for (const c of r.pods[0]!.containers.slice(1)) {
    t.is(c.stdin, undefined);
    t.is(c.stdinOnce, undefined);
    t.is(c.tty, undefined);
  }
});

const cases: Array<[string, string, string[]]> = [
  ['a YAML error', `apiVersion: v1
kind: Pod
metadata:
  name: x
 spec:
  containers: []
`, ['pod.yaml:5: YAML: All mapping items must start at the same column']],
  ['a duplicate key', `apiVersion: v1
kind: Pod
kind: Pod
`, ['pod.yaml:3: YAML: Map keys must be unique']],
  ['a missing name', `apiVersion: v1
kind: Pod
metadata:
  labels: {app: x}
spec:
  containers: [{name: c, image: x}]
`, ["pod.yaml:3: metadata.name is missing; every pod needs a name (lowercase letters, digits and '-')"]],
  ['duplicate container names', `apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  containers:
  - name: web
    image: x
  - name: web
    image: y
`, ['pod.yaml:8: spec.containers[1].name: duplicate container name "web" (also on line 6); give each container its own name']],
  ['bad env entries', `apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  containers:
  - name: c
    image: x
    env:
    - MODE=debug
    - name: PORT
      value: 8080
    - value: orphan
    - name: A=B
      value: x
    - name: X
      value: a
      valueFrom: {fieldRef: {fieldPath: metadata.name}}
`, [
    'pod.yaml:9: spec.containers[0].env[0] must be a map with name and value, like {name: MODE, value: "debug"}, not a string',
    'pod.yaml:11: spec.containers[0].env[1].value must be a string, not a number; quote it: value: "8080"',
    'pod.yaml:12: spec.containers[0].env[2].name is missing; each env entry needs a name',
    "pod.yaml:13: spec.containers[0].env[3].name: invalid environment variable name \"A=B\": it must not contain '='",
    'pod.yaml:17: spec.containers[0].env[4]: give value or valueFrom, not both',
  ]],
  ['invalid names and wrong types', `apiVersion: v1
kind: Pod
metadata:
  name: My_Pod
  labels: {app: 1, "bad key!": x}
spec:
  hostname: Not_A_Host
  restartPolicy: Sometimes
  shareProcessNamespace: "yes"
  containers:
  - name: Web
    image: nginx@sha256:abc
    command: sleep 10
    args: [1]
    workingDir: www
    ports:
    - containerPort: 70000
    - hostPort: 80
  - just-a-string
`, [
    'pod.yaml:4: metadata.name: invalid pod name "My_Pod": use at most 63 lowercase letters, digits and \'-\', starting and ending with a letter or digit',
    'pod.yaml:5: metadata.labels.app must be a string, not a number; quote it: "1"',
    'pod.yaml:5: metadata.labels: invalid key "bad key!": a key is at most 63 letters, digits, "-", "_" and ".", starting and ending with a letter or digit (optionally prefix/ a DNS subdomain)',
    'pod.yaml:7: spec.hostname: invalid hostname "Not_A_Host": use at most 63 lowercase letters, digits and \'-\'',
    'pod.yaml:8: spec.restartPolicy: "Sometimes" is not one of Always, OnFailure, Never',
    'pod.yaml:9: spec.shareProcessNamespace must be true or false, not a string',
    'pod.yaml:11: spec.containers[0].name: invalid container name "Web": use at most 63 lowercase letters, digits and \'-\', starting and ending with a letter or digit',
    'pod.yaml:12: spec.containers[0].image: invalid image reference "nginx@sha256:abc": "sha256:abc" after \'@\' is not a digest (sha256:<64 lowercase hex digits>)',
    'pod.yaml:13: spec.containers[0].command must be a list, not a string; write a list: command: ["sleep", "10"]',
    'pod.yaml:14: spec.containers[0].args[0] must be a string, not a number; quote it: "1"',
    'pod.yaml:15: spec.containers[0].workingDir "www" must be an absolute path such as /app',
    'pod.yaml:17: spec.containers[0].ports[0].containerPort must be between 1 and 65535, not 70000',
    'pod.yaml:18: spec.containers[0].ports[1].containerPort is missing',
    'pod.yaml:19: spec.containers[1] must be a map (name, image, ...), not a string',
  ]],
  ['other kinds and versions', `apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
---
apiVersion: v2
kind: Pod
metadata: {name: p}
---
kind: Pod
metadata: {name: q}
---
- a list
`, [
    'pod.yaml:2: kind "Deployment" is not supported: podns applies only Pods (apiVersion: v1, kind: Pod)',
    'pod.yaml:5: apiVersion "v2" is not right for a Pod; use apiVersion: v1',
    'pod.yaml:9: apiVersion is missing; a Pod is apiVersion: v1',
    'pod.yaml:12: expected a Kubernetes object (a map with apiVersion, kind, metadata, spec), not a list',
  ]],
  ['missing pieces', `apiVersion: v1
kind: Pod
metadata: {name: a}
---
apiVersion: v1
kind: Pod
metadata: {name: b}
spec:
  containers: []
---
apiVersion: v1
kind: Pod
metadata: {name: c}
spec:
  containers:
  - name: x
  - image: y
---
apiVersion: v1
metadata: {name: d}
`, [
    'pod.yaml:1: spec is missing; a Pod needs spec.containers',
    'pod.yaml:9: spec.containers is empty; a Pod needs at least one container',
    "pod.yaml:16: spec.containers[0].image is missing; name an image from 'podns image ls'",
    "pod.yaml:17: spec.containers[1].name is missing; every container needs a name (lowercase letters, digits and '-')",
    'pod.yaml:19: kind is missing; this file must hold Kubernetes objects of kind: Pod (apiVersion: v1)',
  ]],
  ['the same pod twice', `apiVersion: v1
kind: Pod
metadata: {name: a}
spec: {containers: [{name: c, image: x}]}
---
apiVersion: v1
kind: Pod
metadata: {name: a}
spec: {containers: [{name: c, image: x}]}
`, ['pod.yaml:6: pod "a" is defined twice (also on line 1); pod names must be unique']],
  ['hostNetwork host ports', `apiVersion: v1
kind: Pod
metadata: {name: a}
spec:
  hostNetwork: true
  containers:
  - name: c
    image: x
    ports: [{containerPort: 80, hostPort: 8080}]
  - name: d
    image: x
    ports: [{containerPort: 81, hostPort: 81}, {containerPort: 82, hostPort: 81}]
`, [
    'pod.yaml:9: spec.containers[0].ports[0].hostPort must equal containerPort (80) with hostNetwork: true',
    'pod.yaml:12: spec.containers[1].ports[1].hostPort must equal containerPort (82) with hostNetwork: true',
  ]],
  ['an empty file', '# nothing here\n', ['pod.yaml:1: no Kubernetes objects found; write a Pod (apiVersion: v1, kind: Pod, metadata.name, spec.containers)']],
  ['runAsNonRoot as root', `apiVersion: v1
kind: Pod
metadata: {name: a}
spec:
  securityContext: {runAsNonRoot: true}
  containers:
  - name: c
    image: x
`, ['pod.yaml:5: spec.containers[0]: runAsNonRoot is true but the container would run as root (uid 0, the default); set securityContext.runAsUser to a non-zero uid']],
  ['securityContext: an unknown capability, a Localhost profile, privileged without escalation', `apiVersion: v1
kind: Pod
metadata: {name: a}
spec:
  containers:
  - name: c
    image: x
    securityContext:
      capabilities:
        add: [NET_ADMIN, NET_FOO]
      seccompProfile: {type: Localhost, localhostProfile: p.json}
      privileged: true
      allowPrivilegeEscalation: false
`, [
    'pod.yaml:10: spec.containers[0].securityContext.capabilities.add[1]: unknown capability in spec.containers[0].securityContext.capabilities.add "NET_FOO": use a name from capabilities(7) such as NET_ADMIN or CAP_NET_ADMIN, or ALL',
    'pod.yaml:11: spec.containers[0].securityContext.seccompProfile.type: Localhost profiles are not supported by podns; use RuntimeDefault (Docker\'s default filter) or Unconfined',
    'pod.yaml:13: spec.containers[0].securityContext: cannot set allowPrivilegeEscalation to false and privileged to true',
  ]],
  ['resources: bad quantities, unknown names, a request above its limit', `apiVersion: v1
kind: Pod
metadata: {name: r}
spec:
  containers:
  - name: c
    image: busybox
    resources:
      limits:
        cpu: 1K
        memory: -1Gi
        cpus: 2
      requests:
        memory: [1]
  - name: d
    image: busybox
    resources:
      limits: {cpu: 500m, memory: 64Mi}
      requests: {cpu: "1", memory: 1Gi}
  - name: e
    image: busybox
    resources: {limits: {cpu: 2000000}, requests: "1"}
`, [
    'pod.yaml:10: spec.containers[0].resources.limits.cpu: "1K" has an unknown suffix "K" (kilo is a lowercase k: 1k = 1000; or Ki = 1024); write a number with an optional suffix, like 500m, 0.5 or 2 (cpu), 128Mi or 1G (memory)',
    'pod.yaml:11: spec.containers[0].resources.limits.memory: "-1Gi" is negative; a cpu or memory amount is 0 or more',
    'pod.yaml:12: spec.containers[0].resources.limits.cpus: unknown resource "cpus"; use cpu or memory (or a domain-qualified extended resource)',
    'pod.yaml:14: spec.containers[0].resources.requests.memory must be a quantity such as "128Mi" or "1G", not a list',
    'pod.yaml:19: spec.containers[1].resources.requests.cpu: 1 is more than the cpu limit 500m; a request must be at most its limit',
    'pod.yaml:19: spec.containers[1].resources.requests.memory: 1Gi is more than the memory limit 64Mi; a request must be at most its limit',
    'pod.yaml:22: spec.containers[2].resources.limits.cpu: "2000000" is more cpu than podns accepts (at most 1000000 cores)',
    'pod.yaml:22: spec.containers[2].resources.requests must be a map, not a string',
  ]],
  ['stdin that is not a boolean', `apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  containers:
  - name: c
    image: x
    stdin: "yes"
`, ['pod.yaml:8: spec.containers[0].stdin must be true or false, not a string']],
];

for (const [title, text, want] of cases) {
  test(`error: ${title}`, (t) => {
    t.deepEqual(problems(text), want);
  });
}

test('resources: quantities normalised, requests defaulted from limits, other resource names warned about', (t) => {
  const r = parseManifest(`apiVersion: v1
kind: Pod
metadata: {name: g}
spec:
  containers:
  - name: a
    image: busybox
    resources:
      limits: {cpu: 0.5, memory: 1.5Gi, ephemeral-storage: 1Gi, hugepages-2Mi: 4Mi, nvidia.com/gpu: 1}
  - name: b
    image: busybox
    resources:
      limits: {cpu: 2, memory: "1e3"}
      requests: {cpu: 2000m, memory: 100m}
      claims: [{name: x}]
---
apiVersion: v1
kind: Pod
metadata: {name: b}
spec:
  containers:
  - name: a
    image: busybox
    resources: {requests: {cpu: 100m}}
  - name: b
    image: busybox
---
apiVersion: v1
kind: Pod
metadata: {name: n}
spec:
  containers:
  - {name: a, image: busybox, resources: {}}
  - {name: b, image: busybox, resources: {limits: {cpu: "0"}}}
`, 'res.yaml');
  const [g, b, n] = r.pods;
  t.deepEqual(g!.containers.map((c) => c.resources), [
    { limits: { cpu: '500m', memory: '1536Mi' }, requests: { cpu: '500m', memory: '1536Mi' } },
    { limits: { cpu: '2', memory: '1k' }, requests: { cpu: '2', memory: '1' } },
  ]);
  t.deepEqual(b!.containers.map((c) => c.resources), [{ requests: { cpu: '100m' } }, undefined]);
  t.deepEqual(n!.containers.map((c) => c.resources), [undefined, { limits: { cpu: '0' }, requests: { cpu: '0' } }]);
  t.deepEqual(r.warnings, [
    // b's requests (1 byte) differ from its limit (1k): Burstable
    'res.yaml:9: warning: spec.containers[0].resources.limits.ephemeral-storage is not supported by podns and is ignored (only cpu and memory are)',
    'res.yaml:9: warning: spec.containers[0].resources.limits.hugepages-2Mi is not supported by podns and is ignored (only cpu and memory are)',
    'res.yaml:9: warning: spec.containers[0].resources.limits.nvidia.com/gpu is not supported by podns and is ignored (only cpu and memory are)',
    'res.yaml:14: warning: spec.containers[1].resources.requests.memory: fractional byte value "100m" is invalid, must be an integer (rounded up to 1)',
    'res.yaml:15: warning: spec.containers[1].resources.claims is not supported by podns and is ignored (there is no dynamic resource allocation)',
  ]);
});

test('securityContext maps to the container: pod-level defaults, container-level wins, names normalized', (t) => {
  const r = parseManifest(`apiVersion: v1
kind: Pod
metadata: {name: a}
spec:
  securityContext:
    runAsUser: 1000
    supplementalGroups: [5, 6]
    seccompProfile: {type: Unconfined}
  containers:
  - name: c
    image: x
    securityContext:
      runAsUser: 2000
      capabilities: {add: [cap_net_admin], drop: [ALL]}
      allowPrivilegeEscalation: false
      readOnlyRootFilesystem: true
      seccompProfile: {type: RuntimeDefault}
  - name: d
    image: x
`, 'pod.yaml');
  t.deepEqual(r.warnings, []);
  const [c, d] = r.pods[0]!.containers;
  t.like(c, { runAsUser: 2000, capAdd: ['NET_ADMIN'], capDrop: ['ALL'], noNewPrivileges: true, readOnlyRootFilesystem: true, seccomp: 'RuntimeDefault', supplementalGroups: [5, 6] });
  t.like(d, { runAsUser: 1000, seccomp: 'Unconfined', supplementalGroups: [5, 6] });
  t.is(d!.capAdd, undefined);
});

test('ManifestError: the first problem is the one-line message, the count follows', (t) => {
  const err = t.throws(() => parseManifest(cases[4]![1], 'pod.yaml'), { instanceOf: ManifestError });
  t.is(err!.code, 'EMANIFEST');
  t.is(err!.message, 'pod.yaml:9: spec.containers[0].env[0] must be a map with name and value, like {name: MODE, value: "debug"}, not a string (and 4 more problems)');
});

test('pod names for delete -f need only kind and name', (t) => {
  t.deepEqual(podNamesInManifest(LESSON, 'pod.yaml'), [{ name: 'two-containers', line: 1 }]);
  // a spec that would not apply any more still names its pods
  t.deepEqual(podNamesInManifest('apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec: {containers: [{name: BAD}]}\n---\nkind: Pod\nmetadata: {name: b}\n', 'f'),
    [{ name: 'a', line: 1 }, { name: 'b', line: 6 }]);
  t.throws(() => podNamesInManifest('kind: Service\nmetadata: {name: s}\n', 'f'), { message: /^f:1: kind "Service" is not supported/ });
  t.throws(() => podNamesInManifest('a: [\n', 'f'), { message: /^f:\d+: YAML: / });
});

test('$(VAR) expansion as kubelet does it', (t) => {
  const env: Record<string, string> = { A: 'x', B: '' };
  const look = (k: string) => env[k];
  t.is(expandVars('$(A)$(B)-$(C)', look), 'x-$(C)');
  t.is(expandVars('$$(A) $$ $x $', look), '$(A) $ $x $');
  t.is(expandVars('$(A', look), '$(A');
  t.is(expandVars('$()', look), '$()');
});

test('volumes: hostPath and emptyDir, volumeMounts with readOnly, subPath and propagation', (t) => {
  const r = parseManifest(`apiVersion: v1
kind: Pod
metadata: {name: v}
spec:
  volumes:
  - name: data
    hostPath: {path: /srv/data, type: DirectoryOrCreate}
  - name: scratch
    emptyDir: {medium: Memory, sizeLimit: 1Gi}
  - name: cache
    emptyDir: {}
  containers:
  - name: c
    image: busybox
    securityContext: {privileged: true}
    volumeMounts:
    - {name: data, mountPath: /data/, readOnly: true}
    - {name: scratch, mountPath: /scratch, subPath: a/b/, mountPropagation: Bidirectional}
    - {name: cache, mountPath: /cache, mountPropagation: HostToContainer}
`, 'v.yaml');
  t.deepEqual(r.pods[0]!.volumes, [
    { name: 'data', hostPath: { path: '/srv/data', type: 'DirectoryOrCreate' } }, { name: 'scratch', emptyDir: { medium: 'Memory', sizeLimit: 1024 ** 3 } }, { name: 'cache', emptyDir: {} },
  ]);
  t.deepEqual(r.pods[0]!.containers[0]!.volumeMounts, [
    { name: 'data', mountPath: '/data', readOnly: true },
    { name: 'scratch', mountPath: '/scratch', subPath: 'a/b', propagation: 'rshared' },
    { name: 'cache', mountPath: '/cache', propagation: 'rslave' },
  ]);
  t.deepEqual(r.warnings, []);
});

test('emptyDir: medium Memory with or without sizeLimit; sizeLimit on disk is a warning; a bad sizeLimit one line', (t) => {
  const r = parseManifest(`apiVersion: v1
kind: Pod
metadata: {name: v}
spec:
  volumes:
  - {name: a, emptyDir: {medium: Memory}}
  - {name: b, emptyDir: {medium: Memory, sizeLimit: 64Mi}}
  - {name: c, emptyDir: {sizeLimit: 1G}}
  - {name: d, emptyDir: {medium: "", sizeLimit: 1000}}
  containers:
  - {name: c, image: busybox}
`, 'v.yaml');
  t.deepEqual(r.pods[0]!.volumes, [
    { name: 'a', emptyDir: { medium: 'Memory' } }, { name: 'b', emptyDir: { medium: 'Memory', sizeLimit: 64 * 1024 * 1024 } }, { name: 'c', emptyDir: {} }, { name: 'd', emptyDir: {} },
  ]);
  t.deepEqual(r.warnings, [
    'v.yaml:8: warning: spec.volumes[2].emptyDir.sizeLimit is not enforced by podns on disk (it is the size of a medium: Memory tmpfs)',
    'v.yaml:9: warning: spec.volumes[3].emptyDir.sizeLimit is not enforced by podns on disk (it is the size of a medium: Memory tmpfs)',
  ]);
  t.deepEqual(problems(`apiVersion: v1
kind: Pod
metadata: {name: v}
spec:
  volumes:
  - {name: a, emptyDir: {medium: Memory, sizeLimit: 64MB}}
  - {name: b, emptyDir: {medium: Memory, sizeLimit: 100}}
  - {name: c, emptyDir: {medium: Memory, sizeLimit: [1]}}
  - {name: d, emptyDir: {medium: Disk}}
  containers:
  - {name: c, image: busybox}
`), [
    'pod.yaml:6: spec.volumes[0].emptyDir.sizeLimit: "64MB" has an unknown suffix "MB" (Kubernetes writes Ki Mi Gi Ti Pi Ei or k M G T P E, no B); write a number with an optional suffix, like 500m, 0.5 or 2 (cpu), 128Mi or 1G (memory)',
    'pod.yaml:7: spec.volumes[1].emptyDir.sizeLimit: "100" is less than one 4 KiB page; give at least 4Ki',
    'pod.yaml:8: spec.volumes[2].emptyDir.sizeLimit must be a quantity such as "64Mi", not a list',
    'pod.yaml:9: spec.volumes[3].emptyDir.medium: "Disk" is not "" or Memory',
  ]);
});

test('error: bad volumes and volumeMounts, one line each', (t) => {
  t.deepEqual(problems(`apiVersion: v1
kind: Pod
metadata: {name: v}
spec:
  volumes:
  - name: cm
    configMap: {name: x}
  - name: rel
    hostPath: {path: srv}
  - name: typo
    hostPath: {path: /srv, type: Dir}
  - name: ok
    emptyDir: {}
  - name: ok
    emptyDir: {}
  - name: Bad_Name
    emptyDir: {}
  containers:
  - name: c
    image: busybox
    volumeMounts:
    - {name: missing, mountPath: /m}
    - {name: ok, mountPath: data}
    - {name: ok, mountPath: /a/../etc}
    - {name: ok, mountPath: /x}
    - {name: ok, mountPath: /x/}
    - {name: ok, mountPath: /y, subPath: ../../etc}
    - {name: ok, mountPath: /z, mountPropagation: Bidirectional}
    - {name: ok, mountPath: /w, mountPropagation: Sideways}
`), [
    'pod.yaml:6: spec.volumes[0] (cm): volume type configMap is not supported by podns; use hostPath or emptyDir',
    'pod.yaml:9: spec.volumes[1].hostPath.path must be an absolute path on the host, such as /srv/data',
    'pod.yaml:11: spec.volumes[2].hostPath.type: "Dir" is not one of DirectoryOrCreate, Directory, FileOrCreate, File, Socket, CharDevice, BlockDevice (or empty)',
    'pod.yaml:14: spec.volumes[4].name: duplicate volume name "ok"',
    'pod.yaml:16: spec.volumes[5].name: "Bad_Name" is not a DNS-1123 label; give the volume a name such as data',
    'pod.yaml:22: spec.containers[0].volumeMounts[0].name: no volume "missing" in spec.volumes; name one of: ok',
    'pod.yaml:23: invalid spec.containers[0].volumeMounts[1].mountPath "data": it is relative; give an absolute path in the container, such as /data',
    'pod.yaml:24: invalid spec.containers[0].volumeMounts[2].mountPath "/a/../etc": it holds ".."; give the path without it',
    'pod.yaml:26: spec.containers[0].volumeMounts[4].mountPath /x is mounted twice in this container',
    'pod.yaml:27: spec.containers[0].volumeMounts[5].subPath: invalid subPath "../../etc" for /y: give a relative path inside the volume, without ".."',
    'pod.yaml:28: spec.containers[0].volumeMounts[6].mountPropagation: Bidirectional needs securityContext.privileged: true',
    'pod.yaml:29: spec.containers[0].volumeMounts[7].mountPropagation: "Sideways" is not one of None, HostToContainer, Bidirectional',
  ]);
});
