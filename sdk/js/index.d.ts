// SPDX-License-Identifier: Apache-2.0
// TypeScript declarations of moonbase-client (src/moonbase-client.js).
// Payload shapes follow the server (docs/PROTOCOL.md, docs/REST.md): wire names, snake_case.

export declare const VERSION: string;

// ---------------------------------------------------------------------------------------------
// Errors

export type ServerErrorCode =
  | 'bad_request'
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'conflict'
  | 'rate_limited'
  | 'unavailable'
  | 'internal'
  | 'unsupported'
  | 'account_banned';
/** The server's codes, then the SDK's own: timeout, disconnected, network. */
export type ErrorCodeValue = ServerErrorCode | 'timeout' | 'disconnected' | 'network';

export declare const ErrorCode: Readonly<{
  BAD_REQUEST: 'bad_request';
  UNAUTHORIZED: 'unauthorized';
  FORBIDDEN: 'forbidden';
  NOT_FOUND: 'not_found';
  CONFLICT: 'conflict';
  RATE_LIMITED: 'rate_limited';
  UNAVAILABLE: 'unavailable';
  INTERNAL: 'internal';
  UNSUPPORTED: 'unsupported';
  ACCOUNT_BANNED: 'account_banned';
  TIMEOUT: 'timeout';
  DISCONNECTED: 'disconnected';
  NETWORK: 'network';
}>;

/** Reasons the server adds to vote.cast / vote.veto errors. */
export type VoteRejectReason =
  | 'not_found'
  | 'vote_closed'
  | 'not_eligible'
  | 'malformed'
  | 'empty'
  | 'unknown_option'
  | 'no_tokens'
  | 'veto_disabled';

/** Payload of a socket `error` message. */
export interface ErrorPayload {
  code: ServerErrorCode;
  message: string;
  request_type: string | null;
  reason?: string;
}

export declare class MoonbaseError extends Error {
  constructor(code: ErrorCodeValue | string, message?: string, details?: {
    status?: number; reason?: string; requestType?: string; cid?: string; payload?: unknown; cause?: unknown;
  });
  readonly name: 'MoonbaseError';
  code: ErrorCodeValue;
  /** HTTP status of a REST failure, else null. */
  status: number | null;
  /** Finer reason of some socket errors (votes: VoteRejectReason), else null. */
  reason: VoteRejectReason | string | null;
  /** The client message type a socket error answers. */
  requestType: string | null;
  cid: string | null;
  /** The error payload / body as the server sent it. */
  payload: unknown;
  static fromPayload(payload: ErrorPayload, cid?: string): MoonbaseError;
}

// ---------------------------------------------------------------------------------------------
// Shared shapes

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export interface AuthReply {
  token: string;
  refresh_token: string;
  player_id: string;
  username: string;
  /** Seconds the token is valid for. */
  expires_in: number;
  /** True when this call created the account. */
  created: boolean;
}

export interface SessionData {
  token: string;
  refresh_token?: string | null;
  player_id: string;
  username: string;
  created?: boolean;
  expires_in?: number;
  /** Absolute expiry, ms since the epoch. */
  expires_at?: number | null;
}

export declare class Session {
  constructor(data: SessionData | AuthReply);
  token: string;
  refresh_token: string | null;
  player_id: string;
  username: string;
  created: boolean;
  expires_at: number | null;
  static tokenExpiry(token: string): number | null;
  /** True when the token expires within marginMs (default 30000). */
  expired(marginMs?: number): boolean;
  toJSON(): Required<Omit<SessionData, 'expires_in'>>;
}

export interface Account {
  player_id: string;
  username: string;
  display_name: string | null;
  metadata: JsonObject;
  email: string | null;
  created_at: string;
  updated_at: string;
}

export interface MatchPlayer {
  player_id: string;
  username: string;
  connected?: boolean;
}

export type MatchStatus = 'waiting' | 'running' | 'finished';

export interface MatchSummary {
  match_id: string;
  mode: string;
  status: MatchStatus;
  player_count: number;
  max_players: number;
  min_players: number;
  tick_rate: number;
  script_version: number;
  tick: number;
  created_at: number;
  started_at: number | null;
  /** match:set_label (docs/LUA_API.md §3.2); {} when none */
  label: Record<string, string | number | boolean>;
  /** joinable now: not ending and a seat free */
  open: boolean;
  players?: MatchPlayer[];
}

export interface MatchDetail extends Partial<MatchSummary> {
  match_id: string;
  mode: string;
  status: MatchStatus;
  script_version: number;
  result: Json;
  params?: JsonObject;
  reason?: string | null;
  ticks?: number;
  finished_at?: number | null;
  votes?: Json[];
  [key: string]: unknown;
}

export interface MatchmakerModeStats {
  tickets: number;
  oldest_wait_ms: number;
  matches_formed: number;
  mean_wait_ms: number;
  mean_skill_spread: number;
}

export interface MatchmakerStats {
  tickets: number;
  modes: { [mode: string]: MatchmakerModeStats };
}

export type LeaderboardSort = 'desc' | 'asc';
export type LeaderboardOperator = 'best' | 'set' | 'incr';

export interface Leaderboard {
  id: string;
  sort: LeaderboardSort;
  operator: LeaderboardOperator;
  /** Cron expression (UTC) or null: never resets. */
  reset: string | null;
  client_submit: boolean;
  metadata: JsonObject;
  period: number;
  period_start: string | null;
  next_reset: string | null;
  /** Records in the current period. */
  total: number;
}

export interface LeaderboardRecord {
  owner_id: string;
  username: string | null;
  score: number;
  subscore: number;
  num_submits: number;
  metadata: JsonObject;
  /** Exact, 1-based. */
  rank: number;
  updated_at: string | null;
}

export interface LeaderboardDefinition {
  id: string;
  sort?: LeaderboardSort;
  operator?: LeaderboardOperator;
  reset?: string;
  client_submit?: boolean;
  metadata?: JsonObject;
}

/** Every leaderboard read carries the board and its next reset. */
export interface LeaderboardPage {
  leaderboard: Leaderboard;
  next_reset: string | null;
  records: LeaderboardRecord[];
  /** Top reads: pass as cursor for the next page; null at the end. */
  next_cursor?: string | null;
  /** Around reads: the owner's rank, null without a record. */
  owner_rank?: number | null;
  /** Archive reads (period option). */
  archive?: { period: number; started_at: string; ended_at: string };
}

export interface LeaderboardRecordReply {
  leaderboard: Leaderboard;
  next_reset: string | null;
  record: LeaderboardRecord;
}

export type FriendState = 'friend' | 'invite_sent' | 'invite_received' | 'blocked';

export interface Friend {
  player_id: string;
  username: string;
  state: FriendState;
  /** For friends; null otherwise. */
  presence: { status: string; metadata?: JsonObject } | null;
  updated_at?: string;
}

export type StoragePermissionRead = 'none' | 'owner' | 'public';
export type StoragePermissionWrite = 'none' | 'owner';
/** An object to write (docs/STORAGE.md). version "*": only if it does not exist; a version: only if unchanged. */
export interface StorageWrite {
  collection: string;
  key: string;
  value: JsonObject;
  version?: string;
  permission_read?: StoragePermissionRead;
  permission_write?: StoragePermissionWrite;
  /** Players: only their own id (or leave it out). The admin API: a player id, or null for the server's object. */
  owner_id?: string | null;
}
export interface StorageAck {
  collection: string;
  key: string;
  /** null: the server's object */
  owner_id: string | null;
  version: string;
  created_at: string;
  updated_at: string;
}
export interface StorageObject extends StorageAck {
  value: JsonObject;
  permission_read: StoragePermissionRead;
  permission_write: StoragePermissionWrite;
}
/** No owner_id: the caller's own object; null: the server's. */
export interface StorageId {
  collection: string;
  key: string;
  owner_id?: string | null;
}
export interface StorageListOptions {
  /** A player id or 'server' (default: the caller; admin: every owner). */
  ownerId?: string;
  limit?: number;
  cursor?: string;
}

export interface Notification {
  id: string;
  type: string;
  subject: string;
  content: JsonObject;
  sender_id?: string | null;
  created_at?: string;
  read?: boolean;
}

export interface ChatMessage {
  channel_id: string;
  message_id: string;
  sender_id: string;
  content: string;
  sent_at: string;
  [key: string]: unknown;
}

export interface Presence {
  player_id: string;
  status: string;
  metadata?: JsonObject;
}

// ---------------------------------------------------------------------------------------------
// Client

export interface FetchLike {
  (input: string, init?: { method?: string; headers?: Record<string, string>; body?: string; signal?: unknown }): Promise<{
    status: number;
    text(): Promise<string>;
  }>;
}

/** A WebSocket constructor: the browser's, or the `ws` package's in Node.js. */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: any) => void) | null;
  onmessage: ((ev: { data: any }) => void) | null;
  onerror: ((ev: any) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
}
export type WebSocketConstructor = new (url: string) => WebSocketLike;

export interface ClientOptions {
  fetch?: FetchLike;
  WebSocket?: WebSocketConstructor;
  /** REST deadline, ms (10000). */
  timeoutMs?: number;
  /** A session to resume (as stored from onSessionChange). */
  session?: SessionData;
  /** Refresh the token before it expires and once after a 401 (true). */
  autoRefresh?: boolean;
}

export interface RequestOptions {
  body?: unknown;
  query?: Record<string, string | number | boolean | string[] | undefined | null>;
  auth?: 'bearer' | 'none';
  timeoutMs?: number;
}

export declare class Client {
  constructor(baseUrl?: string, options?: ClientOptions);
  readonly baseUrl: string;
  readonly wsUrl: string;
  session: Session | null;
  timeoutMs: number;
  autoRefresh: boolean;
  onSessionChange(fn: (session: Session | null) => void): () => void;
  request<T = any>(method: string, path: string, options?: RequestOptions): Promise<T>;
  validToken(options?: { force?: boolean }): Promise<string>;

  authenticateDevice(deviceId: string, options?: { username?: string }): Promise<Session>;
  authenticateEmail(email: string, password: string, options?: { create?: boolean; username?: string }): Promise<Session>;
  refresh(refreshToken?: string): Promise<Session>;
  logout(refreshToken?: string): Promise<{ revoked: boolean }>;

  getAccount(): Promise<Account>;
  updateAccount(changes: { username?: string; display_name?: string; metadata?: JsonObject }): Promise<Account>;
  /** DELETE /v1/account: deletes the account (sockets close with 4002) and forgets the session. */
  deleteAccount(): Promise<{ player_id: string; deleted: true; closed_sockets: number }>;

  createMatch(mode: string, params?: JsonObject): Promise<{ match_id: string; mode: string; script_version: number }>;
  listMatches(options?: { mode?: string; label?: Record<string, string | number | boolean>; open?: boolean; limit?: number }): Promise<{ matches: MatchSummary[] }>;
  getMatch(matchId: string): Promise<MatchDetail>;
  rpc<T = Json>(name: string, payload?: JsonObject): Promise<T>;
  matchmakerStats(): Promise<MatchmakerStats>;

  listFriends(options?: { state?: FriendState }): Promise<{ friends: Friend[] }>;
  /** A player id string, {player_id} or {username}. */
  addFriend(target: string | { player_id: string } | { username: string }): Promise<{ player_id: string; username: string; state: FriendState }>;
  removeFriend(playerId: string): Promise<{ player_id: string; state: 'none'; previous_state: FriendState }>;
  blockPlayer(playerId: string): Promise<{ player_id: string; username: string; state: 'blocked' }>;

  listNotifications(options?: { unread?: boolean; limit?: number; cursor?: string }): Promise<{ notifications: Notification[]; next_cursor: string | null }>;
  /** Ids (1..100), or 'all'. */
  markNotificationsRead(ids: string | string[] | 'all'): Promise<{ updated: number }>;
  deleteNotification(id: string): Promise<{ id: string; deleted: true }>;

  /** PUT /v1/storage: all or nothing; 409 conflict / 403 forbidden name the refused item. */
  writeObjects(objects: StorageWrite[]): Promise<{ objects: StorageAck[] }>;
  readObjects(ids: StorageId[]): Promise<{ objects: StorageObject[] }>;
  listObjects(collection: string, options?: StorageListOptions): Promise<{ objects: StorageObject[]; cursor: string | null }>;
  deleteObjects(ids: Array<{ collection: string; key: string; version?: string }>): Promise<{ deleted: number }>;

  chatHistory(channelId: string, options?: { limit?: number; before?: string }): Promise<{ channel_id: string; messages: ChatMessage[]; next_cursor: string | null }>;
  /** Up to 25 ids. */
  getPresence(ids: string | string[]): Promise<{ presences: Presence[] }>;

  listLeaderboards(): Promise<{ leaderboards: Leaderboard[] }>;
  /** The top from a cursor (limit 1..100, 10), or a closed period with period (paged by offset). */
  leaderboardTop(id: string, options?: { limit?: number; cursor?: string; period?: number; offset?: number }): Promise<LeaderboardPage>;
  /** The owner and up to n (0..50, 25) records above and below. */
  leaderboardAround(id: string, ownerId: string, options?: { n?: number }): Promise<LeaderboardPage>;
  /** Up to 100 owners (e.g. friends): those with a record, best first. */
  leaderboardRecords(id: string, ownerIds: string | string[]): Promise<LeaderboardPage>;
  leaderboardRank(id: string, ownerId: string): Promise<LeaderboardRecordReply>;
  /** Your own score; resolves once stored (403 when the board takes scores from the server only). */
  submitScore(id: string, score: number, options?: { subscore?: number; metadata?: JsonObject }): Promise<LeaderboardRecordReply>;

  health(): Promise<{ status: string; database: string; sessions: number }>;
  socket(options?: SocketOptions): Socket;
}

// ---------------------------------------------------------------------------------------------
// Socket

export interface ReconnectOptions {
  minDelayMs?: number;
  maxDelayMs?: number;
  factor?: number;
  jitter?: number;
  maxAttempts?: number;
}

export interface SocketOptions {
  WebSocket?: WebSocketConstructor;
  url?: string;
  requestTimeoutMs?: number;
  connectTimeoutMs?: number;
  /** session.heartbeat interval, ms (15000; 0 = off). */
  heartbeatMs?: number;
  heartbeatTimeoutMs?: number;
  reconnect?: false | ReconnectOptions;
  /** Rejoin match, channels and tickets after a reconnect (true). */
  rejoin?: boolean;
  /** match.* messages kept for nextMatchEvent() (1000; the oldest are dropped first). */
  matchEventBuffer?: number;
}

export type SocketState = 'idle' | 'connecting' | 'open' | 'reconnecting' | 'closed';

export interface Envelope<P = any> {
  cid?: string;
  type: string;
  payload: P;
}

export interface MatchJoined {
  match_id: string;
  mode: string;
  players: MatchPlayer[];
  /** The joiner's view of get_state (with `tick`), or null. */
  state: (JsonObject & { tick: number }) | null;
}
export interface MatchState extends JsonObject {
  tick: number;
}
export interface MatchStarted { match_id: string; players: MatchPlayer[] }
export interface MatchFinished { match_id: string; result: Json }
export interface MatchMessage { match_id: string; subject: string; data: Json }
export interface MatchLeft { match_id: string; reason: string; message?: string }
export interface InputAck { match_id: string; tick: number }

export interface VoteOption { id: string; label?: string; [key: string]: unknown }
export interface VoteStart { vote_id: string; options: VoteOption[]; window_ms: number; method: string; [key: string]: unknown }
export interface VoteTally { vote_id: string; tallies: { [option: string]: number }; time_remaining_ms: number; total_votes: number }
export interface VoteResult {
  vote_id: string;
  winner: string | null;
  counts: { [option: string]: number };
  distribution: { [option: string]: number };
  total_votes: number;
  turnout: number;
  [key: string]: unknown;
}
export interface VoteVetoed { vote_id: string; vetoed_by: string }
export interface VoteAccepted { vote_id: string; total_votes: number }
export interface VetoAccepted { vote_id: string; tokens_left: number }

export interface MatchmakerTicket { ticket_id: string; mode: string }
export interface MatchmakerPlayer { player_id: string; username: string; properties: JsonObject; team: number | null }
export interface MatchmakerMatched { match_id: string; ticket_id: string; players: MatchmakerPlayer[] }
export interface MatchmakerRemoved { ticket_id: string; mode?: string; reason: 'removed' | 'timeout' | 'match_failed' | 'disconnected' | string }

export interface ChatJoined { channel_id: string; members: number }
export interface ChatLeft { channel_id: string }
export interface PresenceChanged { player_id: string; status: string; metadata?: JsonObject }
export interface NotificationNew { id: string; type: string; subject: string; content: JsonObject; sender_id?: string | null; [key: string]: unknown }

export interface DisconnectEvent { code: number; reason: string; willReconnect: boolean; byClient: boolean }
export interface ReconnectEvent {
  attempt: number;
  match: { match_id: string; ok: true; joined: MatchJoined } | { match_id: string; ok: false; error: MoonbaseError } | null;
  channels: Array<{ channel_id: string; ok: boolean; error?: MoonbaseError }>;
  tickets: Array<{ old_ticket_id: string; ticket_id?: string; mode: string; ok: boolean; error?: MoonbaseError }>;
}

export interface ServerEventMap {
  'match.state': MatchState;
  'match.started': MatchStarted;
  'match.finished': MatchFinished;
  'match.message': MatchMessage;
  'match.left': MatchLeft;
  'match.vote_start': VoteStart;
  'match.vote_tally': VoteTally;
  'match.vote_result': VoteResult;
  'match.vote_vetoed': VoteVetoed;
  'matchmaker.matched': MatchmakerMatched;
  'matchmaker.removed': MatchmakerRemoved;
  'chat.message': ChatMessage;
  'presence.changed': PresenceChanged;
  'notification.new': NotificationNew;
}

export declare const ServerEvents: Readonly<{
  onMatchState: 'match.state';
  onMatchStarted: 'match.started';
  onMatchFinished: 'match.finished';
  onMatchMessage: 'match.message';
  onMatchLeft: 'match.left';
  onVoteStart: 'match.vote_start';
  onVoteTally: 'match.vote_tally';
  onVoteResult: 'match.vote_result';
  onVoteVetoed: 'match.vote_vetoed';
  onMatchmakerMatched: 'matchmaker.matched';
  onMatchmakerRemoved: 'matchmaker.removed';
  onChatMessage: 'chat.message';
  onPresenceChanged: 'presence.changed';
  onNotification: 'notification.new';
}>;

type Unsubscribe = () => void;

export declare class Socket {
  constructor(client: Client, options?: SocketOptions);
  readonly client: Client;
  readonly url: string;
  state: SocketState;
  readonly connected: boolean;
  playerId: string | null;
  latencyMs: number | null;
  serverTimeOffsetMs: number;
  /** node: cluster mode, the match's node after a match.redirect (docs/CLUSTER.md) */
  match: { match_id: string; mode: string; metadata?: JsonObject; node?: { node_id: string; url: string } } | null;
  channels: Set<string>;
  tickets: Map<string, { mode: string; properties: JsonObject }>;

  connect(): Promise<{ player_id: string }>;
  close(code?: number, reason?: string): void;
  heartbeat(): Promise<{ server_time: number }>;
  request<T = any>(type: string, payload?: object, options?: { timeoutMs?: number; raw?: false }): Promise<T>;
  request<T = any>(type: string, payload: object, options: { timeoutMs?: number; raw: true }): Promise<Envelope<T>>;
  send(type: string, payload?: object): boolean;

  /** `on`: handlers set up before match.join is sent; removed when the match finishes or is left. */
  joinMatch(
    matchId: string,
    metadata?: JsonObject,
    options?: { on?: { [K in keyof ServerEventMap]?: (payload: ServerEventMap[K], envelope: Envelope<ServerEventMap[K]>) => void } & { [type: string]: (payload: any, envelope: Envelope) => void } },
  ): Promise<MatchJoined>;
  /** The oldest unclaimed match.* message of `type` since the last joinMatch() (buffered), or the next one. */
  nextMatchEvent<K extends keyof ServerEventMap>(type: K, options?: { timeoutMs?: number; filter?: (p: ServerEventMap[K]) => boolean }): Promise<ServerEventMap[K]>;
  nextMatchEvent(type: string, options?: { timeoutMs?: number; filter?: (p: any) => boolean }): Promise<any>;
  sendInput(input: JsonObject): boolean;
  sendInput(input: JsonObject, options: { ack: true }): Promise<InputAck>;
  leaveMatch(): Promise<MatchLeft>;
  addTicket(mode: string, properties?: { [name: string]: number | string }): Promise<MatchmakerTicket>;
  removeTicket(ticketId: string): Promise<MatchmakerRemoved>;
  joinChat(channelId: string): Promise<ChatJoined>;
  leaveChat(channelId: string): Promise<ChatLeft>;
  sendChat(channelId: string, content: string): Promise<ChatMessage>;
  updatePresence(status: string, metadata?: JsonObject): Promise<{ status: string; metadata?: JsonObject }>;
  castVote(voteId: string, optionId: string | string[]): Promise<VoteAccepted>;
  veto(voteId: string): Promise<VetoAccepted>;

  on<K extends keyof ServerEventMap>(type: K, fn: (payload: ServerEventMap[K], envelope: Envelope<ServerEventMap[K]>) => void): Unsubscribe;
  on(type: 'error', fn: (error: MoonbaseError) => void): Unsubscribe;
  on(type: 'disconnect', fn: (event: DisconnectEvent) => void): Unsubscribe;
  on(type: 'reconnect', fn: (event: ReconnectEvent) => void): Unsubscribe;
  on(type: '*', fn: (envelope: Envelope) => void): Unsubscribe;
  on(type: string, fn: (payload: any, envelope: Envelope) => void): Unsubscribe;
  once(type: string, fn: (payload: any, envelope: Envelope) => void): Unsubscribe;
  next<K extends keyof ServerEventMap>(type: K, options?: { timeoutMs?: number; filter?: (p: ServerEventMap[K]) => boolean }): Promise<ServerEventMap[K]>;
  next(type: string, options?: { timeoutMs?: number; filter?: (p: any) => boolean }): Promise<any>;

  onMatchState(fn: (state: MatchState) => void): Unsubscribe;
  onMatchStarted(fn: (p: MatchStarted) => void): Unsubscribe;
  onMatchFinished(fn: (p: MatchFinished) => void): Unsubscribe;
  onMatchMessage(fn: (p: MatchMessage) => void): Unsubscribe;
  onMatchLeft(fn: (p: MatchLeft) => void): Unsubscribe;
  onVoteStart(fn: (p: VoteStart) => void): Unsubscribe;
  onVoteTally(fn: (p: VoteTally) => void): Unsubscribe;
  onVoteResult(fn: (p: VoteResult) => void): Unsubscribe;
  onVoteVetoed(fn: (p: VoteVetoed) => void): Unsubscribe;
  onMatchmakerMatched(fn: (p: MatchmakerMatched) => void): Unsubscribe;
  onMatchmakerRemoved(fn: (p: MatchmakerRemoved) => void): Unsubscribe;
  onChatMessage(fn: (p: ChatMessage) => void): Unsubscribe;
  onPresenceChanged(fn: (p: PresenceChanged) => void): Unsubscribe;
  onNotification(fn: (p: NotificationNew) => void): Unsubscribe;
  onError(fn: (error: MoonbaseError) => void): Unsubscribe;
  onDisconnect(fn: (event: DisconnectEvent) => void): Unsubscribe;
  onReconnect(fn: (event: ReconnectEvent) => void): Unsubscribe;
}

// ---------------------------------------------------------------------------------------------
// AdminClient

export interface AdminOverview {
  uptime_s: number;
  sessions: number;
  authenticated_sessions: number;
  matches: number;
  matches_by_mode: { [mode: string]: number };
  messages_in_per_s: number;
  messages_out_per_s: number;
  database: { up: boolean; pool_size: number; connected: number; busy: number; queued: number; durable_pending: number };
}

export interface AdminPlayer {
  player_id: string;
  username: string;
  online: boolean;
  sessions: Array<{ session_id: number }>;
  created_at?: string;
}

export interface ScriptModeStatus {
  mode: string;
  version: number | null;
  path?: string;
  loaded_at?: number;
  tick_rate?: number;
  /** The last load/reload error ("path:line: message"), or null. */
  error: string | null;
  error_at: number | null;
}

export interface ScriptsStatus {
  modes: ScriptModeStatus[];
  server: { loaded: boolean; version: number; rpcs: string[]; error: string | null; loaded_at: number | null };
}

export interface AdminChatChannel {
  /** The storage key: the room name, match:<match_id>, or dm:<lower player id>:<higher player id>. */
  channel_id: string;
  kind: 'room' | 'match' | 'dm';
  /** Players joined now (several sockets of one player count once), as chat.joined counts them. */
  members: number;
  /** Sockets joined now. */
  sockets: number;
  /** kind 'match' */
  match_id?: string;
  /** kind 'dm': the two players, lower id first. */
  player_ids?: [string, string];
}

export interface AdminChatMessage extends ChatMessage {
  /** The sender's username, or null when the account is gone. */
  sender_username: string | null;
}

export declare class AdminClient {
  constructor(baseUrl: string | undefined, adminToken: string, options?: { fetch?: FetchLike; timeoutMs?: number });
  baseUrl: string;
  adminToken: string;
  request<T = any>(method: string, path: string, options?: Omit<RequestOptions, 'auth'>): Promise<T>;
  overview(): Promise<AdminOverview>;
  /** GET /v1/cluster (docs/CLUSTER.md) */
  cluster(): Promise<{ node_id: string; cluster: boolean; redis?: 'ok' | 'unreachable'; nodes: { node_id: string; url: string; started_at: number; last_seen: number; sessions: number; matches: number }[] }>;
  players(options?: { q?: string; limit?: number }): Promise<{ players: AdminPlayer[] }>;
  player(playerId: string): Promise<AdminPlayer>;
  kickPlayer(playerId: string): Promise<{ player_id: string; closed_sockets: number }>;
  matches(): Promise<{ matches: MatchSummary[] }>;
  match(matchId: string): Promise<MatchSummary & { state: JsonObject | null }>;
  endMatch(matchId: string): Promise<{ match_id: string; status: 'finished' }>;
  matchmaker(): Promise<MatchmakerStats>;
  scripts(): Promise<ScriptsStatus>;
  reloadScripts(): Promise<ScriptsStatus>;
  chatChannels(): Promise<{ channels: AdminChatChannel[]; total: number }>;
  chatMessages(channelId: string, options?: { limit?: number; before?: string }): Promise<{ channel_id: string; messages: AdminChatMessage[]; next_cursor: string | null }>;
  notify(playerId: string, type: string, subject: string, content?: JsonObject): Promise<Notification & { player_id: string }>;
  storageCollections(): Promise<{ collections: Array<{ collection: string; count: number }> }>;
  listStorage(collection: string, options?: StorageListOptions): Promise<{ objects: StorageObject[]; cursor: string | null }>;
  getStorageObject(collection: string, key: string, options?: { ownerId?: string }): Promise<{ objects: StorageObject[] }>;
  putStorageObject(collection: string, key: string, body: { value: JsonObject; version?: string; permission_read?: StoragePermissionRead; permission_write?: StoragePermissionWrite }, options?: { ownerId?: string }): Promise<{ objects: StorageAck[] }>;
  deleteStorageObject(collection: string, key: string, options?: { ownerId?: string; version?: string }): Promise<{ deleted: number }>;
  leaderboards(): Promise<{ leaderboards: Leaderboard[] }>;
  /** Idempotent: created false when the id existed (unchanged). */
  createLeaderboard(def: LeaderboardDefinition): Promise<{ created: boolean; leaderboard: Leaderboard }>;
  leaderboard(id: string, options?: { limit?: number; cursor?: string }): Promise<LeaderboardPage>;
  leaderboardAround(id: string, ownerId: string, options?: { n?: number }): Promise<LeaderboardPage>;
  submitScore(id: string, ownerId: string, score: number, options?: { subscore?: number; username?: string; metadata?: JsonObject }): Promise<LeaderboardRecordReply>;
  resetLeaderboard(id: string): Promise<{ closed_period: number; leaderboard: Leaderboard }>;
}
