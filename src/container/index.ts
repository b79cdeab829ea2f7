// Containers: processes in a pod's namespaces, each watched by a podns-helper shim. See docs/DESIGN.md.
export { runContainer, type RunOptions } from './run.js';
export { execInContainer, execCapture, execStream, type ExecOptions, type CapturedExec, type ExecStreamOptions, type ExecSession } from './exec.js';
export { removeContainer, reopenContainerLog } from './remove.js';
export { attachContainer, attachable, stdinEndsWorkloadStdin, ATTACH_FRAME, type AttachSession } from './attach.js';
export { containerLogs, parseLog, LineAssembler, type LogLine, type LogsOptions } from './logs.js';
export { drainEntries } from './log-files.js';
export { stopContainers, containerNames, DEFAULT_GRACE_SECONDS, type StopOptions } from './stop.js';
export { readContainerStatus, readContainerConfig, statusText } from './status.js';
export { chooseContainer, defaultedMessage, DEFAULT_CONTAINER_ANNOTATION } from './choose.js';
export { psRows, type PsRow } from './ps.js';
export { parseUser, validateEnv, workloadEnv, commandText } from './config.js';
export { listWatchers, killStrayWatchers, type WatcherProcess } from './watchers.js';
export { CAPABILITIES, DEFAULT_CAPABILITIES, computeCapabilities, parseSecurityOpts, privilegeSummary, type SeccompMode } from './privileges.js';
export * from './limits.js';
