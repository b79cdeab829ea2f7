// cgroups: detection of the host's driver (v1/v2), the podns layout, the file writes of each driver.
// Its own layer: imports only src/state (names) and src/errors.
export * from './detect.js';
export * from './layout.js';
export * from './plan.js';
export * from './apply.js';
