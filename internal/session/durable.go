package session

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gomodule/redigo/redis"

	"github.com/sessionauth/authd/internal/redispool"
)

// Revocations that survive a failover.
//
// Redis replicates asynchronously: a primary acknowledges a write before any
// replica has it, and if it dies in that moment, Sentinel promotes a replica
// that never saw the write. For a sign-in that loses one session; for a
// sign-out, a revocation or a password change it brings back a session the
// user ended. So every write that ends sessions (Store.end and Store.revoke)
// is followed, on the same connection, by WAIT for the primary's connected
// replicas, bounded by Config.ReplicaAckTimeout. Sentinel promotes the
// replica with the largest replication offset, so once one replica has
// acknowledged, the promoted one has the revocation too.
//
// When no replica acknowledges in time (they are down or lagging), the
// revocation has still happened on the primary and the answer stays a
// success: the user's cookie is cleared, and refusing the sign-out would
// leave them with a session they can do nothing about. The miss is logged at
// warn and counted (Config.OnReplicaAckMissed, authd's
// authd_session_replica_ack_missed_total), since it is exactly the window in
// which a failover could bring the session back. A primary without replicas
// waits for nothing: there is nothing a failover could promote.

// ackResult is what WAIT reported after a write that ends sessions.
type ackResult struct {
	replicas int // connected to the primary when the write was made
	acked    int // of those, how many acknowledged within the timeout
}

// missed reports whether the write may be lost in a failover: there are
// replicas and none of them acknowledged it.
func (a ackResult) missed() bool { return a.replicas > 0 && a.acked == 0 }

// durableScript runs sc like script and then waits for replicas to
// acknowledge it, on the same connection (WAIT counts the writes of its own
// connection).
func (s *Store) durableScript(ctx context.Context, sc *redis.Script, keysAndArgs ...any) (any, ackResult, error) {
	c, err := s.conn(ctx, firstKey(keysAndArgs))
	if err != nil {
		return nil, ackResult{}, err
	}
	defer c.Close()
	reply, err := redispool.DoScript(ctx, c, sc, keysAndArgs...)
	if err != nil {
		return nil, ackResult{}, fmt.Errorf("%w: script: %w", errStore, err)
	}
	ack, err := s.waitReplicas(ctx, c)
	return reply, ack, err
}

// durableDo is do, followed by waitReplicas on the same connection.
func (s *Store) durableDo(ctx context.Context, cmd string, args ...any) (any, ackResult, error) {
	c, err := s.conn(ctx, firstKey(args))
	if err != nil {
		return nil, ackResult{}, err
	}
	defer c.Close()
	reply, err := redispool.Do(ctx, c, cmd, args...)
	if err != nil {
		return nil, ackResult{}, fmt.Errorf("%w: %s: %w", errStore, cmd, err)
	}
	ack, err := s.waitReplicas(ctx, c)
	return reply, ack, err
}

// waitReplicas asks how many replicas the primary has and, when there are
// some, waits up to ackTimeout for them to acknowledge c's writes so far. A
// failure of either command is no failure of the write, which has been
// made: it is reported as a missed acknowledgement.
func (s *Store) waitReplicas(ctx context.Context, c redis.Conn) (ackResult, error) {
	if s.ackTimeout <= 0 {
		return ackResult{}, nil
	}
	text, err := redis.String(redispool.Do(ctx, c, "INFO", "replication"))
	if err != nil {
		return ackResult{replicas: 1}, nil
	}
	n := connectedReplicas(text)
	if n == 0 {
		return ackResult{}, nil
	}
	acked, err := redis.Int(redispool.Do(ctx, c, "WAIT", n, max(1, s.ackTimeout.Milliseconds())))
	if err != nil {
		return ackResult{replicas: n}, nil
	}
	return ackResult{replicas: n, acked: acked}, nil
}

// connectedReplicas reads connected_slaves from INFO replication.
func connectedReplicas(info string) int {
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "connected_slaves:"); ok {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	return 0
}

// ackMissed logs and counts a revocation that no replica acknowledged.
func (m *Manager) ackMissed(ctx context.Context, op string, userID int64, a ackResult) {
	if !a.missed() {
		return
	}
	m.log.WarnContext(ctx, "no replica acknowledged a session revocation in time; a failover now could bring the session back",
		"op", op, "user_id", userID, "replicas", a.replicas, "timeout", m.cfg.ReplicaAckTimeout.String())
	if m.cfg.OnReplicaAckMissed != nil {
		m.cfg.OnReplicaAckMissed(op)
	}
}

// DefaultReplicaAckTimeout is how long a revocation waits for a replica
// when Config.ReplicaAckTimeout is zero.
const DefaultReplicaAckTimeout = 500 * time.Millisecond
