// What every RPC handler gets: the state root, the image store, and the network pods join.
export interface CriContext {
  root: string;
  /** the image store (absent: PODNS_STORE, else the default) */
  store?: string;
  /** the bridge (and, for a new one, its subnet) sandboxes join; default podns0 */
  bridge?: string;
  subnet?: string;
}
