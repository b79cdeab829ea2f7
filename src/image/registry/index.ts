// The OCI distribution client (pull side): see docs/DESIGN.md, "Registry client".
export { pullToContent, LAYER_PARALLELISM, BLOB_ATTEMPTS, type PullOptions, type PullResult, type PullEvent } from './pull.js';
export { RegistryClient, type RegistryClientOptions, type Repo, type ManifestHead, type FetchedManifest } from './client.js';
export { RegistryError } from './errors.js';
export { Transport, CERT_DIRS, isLoopbackHost, registryHost, type TransportOptions } from './transport.js';
export { findCredentials, authFiles, explicitCredentials, type Credentials, type CredentialOptions, type ExplicitCredentials } from './credentials.js';
export { parseChallenges, type Challenge } from './challenge.js';
export { hostPlatform, parsePlatform, formatPlatform, pickManifest } from './platform.js';
