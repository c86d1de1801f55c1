// Package redisadapter joins Herald servers into a cluster of Socket.IO
// servers over Redis (go-redis v9), wire-compatible with Node's
// @socket.io/redis-adapter 8.x in both its forms, so that Go and Node
// servers can share one cluster and one Redis without telling each other
// apart:
//
//   - New: the classic form (createAdapter; socketio-reference §9.1-9.3):
//     PUBLISH/PSUBSCRIBE, notepack MessagePack broadcasts, JSON requests;
//   - NewSharded: the sharded form (createShardedAdapter; §9.4): SPUBLISH/
//     SSUBSCRIBE on Redis 7, the socket.io-adapter ClusterAdapter messages,
//     subscription modes Static, Dynamic and DynamicPrivate; built on
//     package adapter/cluster.
//
// Package emitter (adapter/redis/emitter) publishes into a classic cluster
// from any Go process, as @socket.io/redis-emitter does.
//
// Either constructor's result goes in socketio.Options.Adapter:
//
//	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
//	srv := socketio.NewServer(&socketio.Options{Adapter: redisadapter.New(rdb, nil)})
//
// # The classic adapter
//
// Each namespace gets its own Adapter, which wraps a socketio.MemoryAdapter
// for its local sockets and holds, on one dedicated Redis connection, the
// subscriptions Node's adapter holds: PSUBSCRIBE {key}#{nsp}#* for broadcasts
// and SUBSCRIBE to {key}-request#{nsp}#, {key}-response#{nsp}# and
// {key}-response#{nsp}#{uid}#. The server count is PUBSUB NUMSUB of the
// request channel, so a namespace counts as a server once its Adapter has
// subscribed (WaitReady).
//
// Broadcasts are delivered locally at once and published in call order by
// one publisher goroutine per namespace, which pipelines what has queued up.
// Server-wide operations (FetchSockets, ServerSideEmit with acks, broadcasts
// with acks) are requests answered by every other server, bounded by
// Options.RequestsTimeout and the caller's context.
//
// # When Redis goes away
//
// This applies to both forms. Local delivery never depends on Redis. When
// the connection is lost the adapter logs it once (slog, level Warn) and
// counts it in Stats; the
// subscriber reconnects with exponential backoff (50 ms doubling to 2 s) and
// go-redis re-sends every subscription on the new connection, which is
// logged (Info) and counted as a reconnect. While Redis is unreachable:
//
//   - broadcasts and requests published by this server are lost once
//     go-redis gives up retrying them (its MaxRetries, 3 by default, with
//     backoff: a short outage costs nothing on the publishing side); those
//     that fail are counted in Stats.Dropped; once the publish queue
//     (Options.PublishQueueSize) is full, new ones are dropped at once
//     instead of queueing, so memory stays bounded;
//   - broadcasts published by other servers during the gap are never
//     received here: Redis pub/sub keeps no history (the classic adapter,
//     like Node's, has no recovery);
//   - server-wide requests fail with an error or time out (FetchSockets
//     with an error wrapping ErrTimeout).
//
// The fault test (TestFaultRedisRestart) measures the gap: redis-server is
// stopped for about 0.6 s in the middle of a stream of one broadcast every
// 2 ms, then restarted on the same port; the receiving node misses what was
// published until its subscriber is back (100 to 500 broadcasts in our
// runs, the test logs the figure) and nothing after that. The publisher
// loses nothing in such a short outage: go-redis's retries carry its
// messages over.
//
// No goroutine is started per message or per reconnection attempt: each
// classic Adapter runs exactly three goroutines (subscriber, publisher,
// server-side event worker) until Close; a ShardedAdapter runs two
// (subscriber, room-channel subscriptions) plus the cluster engine's.
package redisadapter
