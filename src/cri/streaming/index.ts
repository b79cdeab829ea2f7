// The CRI streaming server (Exec, Attach, PortForward sessions over SPDY/3.1 and WebSocket). See server.ts.
export { StreamingServer, DEFAULT_STREAM_ADDRESS, type StreamingServerOptions, type StreamRequest } from './server.js';
export { REMOTECOMMAND_PROTOCOLS, type Status, type StreamFlags } from './remotecommand.js';
export { PORTFORWARD_PROTOCOL } from './portforward.js';
export { WS_REMOTECOMMAND_PROTOCOLS, WS_PORTFORWARD_PROTOCOLS } from './websocket.js';
export { TOKEN_TTL_MS, TokenCacheFullError } from './tokens.js';
