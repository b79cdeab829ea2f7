// The CRI server (`podns cri serve`). Only the CLI imports this folder.
export { serveCri, socketPath, DEFAULT_LISTEN, type ServeOptions, type CriServer, type LogLevel } from './server.js';
export { protoPath, criServices, criPackageDefinition, LOADER_OPTIONS } from './proto.js';
