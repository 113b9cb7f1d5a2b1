/**
 * The CRI streaming server (Exec, Attach, PortForward): HTTP with SPDY/3.1 and WebSocket
 * upgrades, the Kubernetes remote command and port forward protocols, one-time tokens, and the
 * backends that run `rkt app exec`, `rkt attach` and connections into pod network namespaces.
 * See docs/kubernetes.md, "Streaming".
 */
export { StreamingServer, parseHostPort, DEFAULT_STREAMING_ADDRESS, type StreamingServerOptions, type ExecRequest, type AttachRequest } from './server';
export { rktBackends, type StreamBackends, type ExecTarget, type AttachTarget, type PortForwardTarget, type RktBackendContext } from './backends';
export { execUrl, attachUrl, portForwardUrl, type StreamRpcRequest } from './requests';
export { TokenCache, TOKEN_TTL_MS, MAX_TOKENS, type StreamKind } from './tokens';
export {
  SPDY_COMMAND_PROTOCOLS,
  WS_COMMAND_PROTOCOLS,
  WsChannel,
  ResizeDecoder,
  statusMessage,
  expectedSpdyStreams,
  spdyCommandStreams,
  wsCommandStreams,
  type CommandResult,
  type CommandStreams,
  type StreamRequest,
  type TerminalSize,
} from './remotecommand';
export { SPDY_PORTFORWARD_PROTOCOL, WS_PORTFORWARD_PROTOCOLS, parsePort, connectError, serveSpdyPortForward, serveWsPortForward, type PortConnector } from './portforward';
export { SpdyConnection, SpdyStream, type StreamAcceptor } from './spdy';
export * from './spdy-frames';
export { WsConnection, WsChannels, WsFrameDecoder, WsProtocolError, WsOpcode, WsClose, acceptKey, chooseProtocol, encodeWsFrame, handshakeResponse, isWebSocketRequest, offeredProtocols, type WsFrame } from './websocket';
export { PtyMaster } from './pty-master';
