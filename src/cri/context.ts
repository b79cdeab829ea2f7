// What every RPC handler gets: the state root, the image store, the network pods join, and the streaming
// server that Exec, Attach and PortForward hand their sessions to.
import type { StreamingServer } from './streaming/index.js';

export interface CriContext {
  root: string;
  /** the image store (absent: PODNS_STORE, else the default) */
  store?: string;
  /** the bridge (and, for a new one, its subnet) sandboxes join; default podns0 */
  bridge?: string;
  subnet?: string;
  streaming?: StreamingServer;
}
