// What the bench runs in each pod, in one place: the library and CLI sections, scaling, and the run A/B's
// workers (which must not import the library through api.ts: each of them loads its own build's copy).

/** The container every pod gets: long-lived, so exec has something to join; no image (host filesystem). */
export const WORKLOAD = ['/bin/sleep', '3600'];

/** The processes podns starts (they leave this process's tree: the shim detaches). */
export const PODNS_COMMS = ['pause', 'podns-helper'];
