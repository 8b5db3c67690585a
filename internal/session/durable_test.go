package session

import (
	"bytes"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"

	"github.com/sessionauth/authd/internal/redispool"
	"github.com/sessionauth/authd/internal/testenv"
)

// ackCounter records OnReplicaAckMissed calls.
type ackCounter struct {
	mu  sync.Mutex
	ops []string
}

func (a *ackCounter) missed(op string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.ops = append(a.ops, op)
}

func (a *ackCounter) list() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.ops...)
}

// startReplicated starts a primary and one replica of it, in sync.
func startReplicated(t *testing.T) (primary, replica *testenv.Redis) {
	t.Helper()
	primary = testenv.StartRedis(t)
	host, port, _ := net.SplitHostPort(primary.Addr)
	replica = testenv.StartRedis(t, "--replicaof", host, port, "--repl-diskless-sync-delay", "0")
	c := replica.Conn(t)
	for deadline := time.Now().Add(10 * time.Second); ; {
		info, err := redis.String(c.Do("INFO", "replication"))
		if err == nil && strings.Contains(info, "master_link_status:up") {
			return primary, replica
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica not in sync within 10s: %q %v", info, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func waitCalls(t *testing.T, c redis.Conn) int {
	t.Helper()
	info, err := redis.String(c.Do("INFO", "commandstats"))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(line, "cmdstat_wait:calls="); ok {
			n, _ := strconv.Atoi(v[:strings.IndexByte(v, ',')])
			return n
		}
	}
	return 0
}

// A sign-out on a primary with a replica waits for it; when the replica
// hangs (connected, answering nothing), the sign-out still ends the session
// on the primary, and the missed acknowledgement is logged and counted. A
// primary without replicas sends no WAIT at all.
func TestRevocationWaitsForAReplica(t *testing.T) {
	t.Parallel()
	t.Run("acknowledged, then missed", func(t *testing.T) {
		t.Parallel()
		primary, replica := startReplicated(t)
		var logs bytes.Buffer
		acks := &ackCounter{}
		m, err := NewManager(redispool.Single(primary.Pool(t)), Config{Lifetime: time.Hour, IdleTimeout: 10 * time.Minute, KeyPrefix: "s:",
			ReplicaAckTimeout: 100 * time.Millisecond, OnReplicaAckMissed: acks.missed},
			slog.New(slog.NewTextHandler(&logs, nil)))
		if err != nil {
			t.Fatal(err)
		}
		pc := primary.Conn(t)
		tok := mustSignIn(t, m, Grant{UserID: 1, Name: "ann"})
		before := waitCalls(t, pc)
		signOut(t, m, tok)
		if got := waitCalls(t, pc) - before; got != 1 {
			t.Errorf("sign-out sent %d WAIT, want 1", got)
		}
		if got := acks.list(); len(got) != 0 {
			t.Fatalf("a replica in sync missed an acknowledgement: %v", got)
		}
		// The replica has the sign-out: the record is gone there too.
		if n, err := redis.Int(replica.Conn(t).Do("EXISTS", RecordKey("s:", tok))); err != nil || n != 0 {
			t.Fatalf("record on the replica after the acknowledged sign-out: %d, %v", n, err)
		}

		tok = mustSignIn(t, m, Grant{UserID: 1, Name: "ann"})
		other := mustSignIn(t, m, Grant{UserID: 1, Name: "ann"})
		replica.Pause(t)
		signOut(t, m, tok)
		if _, err := m.RevokeAll(t.Context(), 1, 0, EndRevoked); err != nil {
			t.Fatalf("revoke all with the replica hanging: %v", err)
		}
		replica.Resume(t)
		if got := acks.list(); len(got) != 2 || got[0] != "sign_out" || got[1] != "revoke_all" {
			t.Errorf("missed acknowledgements %v, want [sign_out revoke_all]", got)
		}
		if !strings.Contains(logs.String(), "no replica acknowledged a session revocation") {
			t.Errorf("no warning logged:\n%s", logs.String())
		}
		for _, x := range []string{tok, other} {
			if _, _, err := current(t, m, x); !errors.Is(err, ErrSignedOut) {
				t.Errorf("session ended while the replica hung still works: %v", err)
			}
		}
	})
	t.Run("no replicas", func(t *testing.T) {
		t.Parallel()
		acks := &ackCounter{}
		m, conn := newTestManager(t, Config{OnReplicaAckMissed: acks.missed})
		tok := mustSignIn(t, m, Grant{UserID: 1, Name: "ann"})
		signOut(t, m, tok)
		if n := waitCalls(t, conn); n != 0 || len(acks.list()) != 0 {
			t.Errorf("without replicas: %d WAIT, missed %v; want none", n, acks.list())
		}
	})
}

// failoverRounds is how many times TestRevocationsSurviveFailover fails
// over: AUTHD_FAILOVER_ROUNDS (make test-failover runs many), else 3.
func failoverRounds(t *testing.T) int {
	if v := os.Getenv("AUTHD_FAILOVER_ROUNDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("AUTHD_FAILOVER_ROUNDS=%q is not a positive number", v)
		}
		return n
	}
	return 3
}

// Each round ends sessions in one of the four ways (sign-out, revoke one,
// revoke the others, revoke all as a password change does), kills the
// master the moment the call returns, waits for Sentinel to promote the
// replica, and replays the ended sessions' tokens: every one is refused,
// while a session that was not ended still works (the data did fail over).
// Zero resurrections over every round.
func TestRevocationsSurviveFailover(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("fails a Sentinel deployment over several times")
	}
	sg := testenv.StartSentinels(t, testenv.SentinelOptions{})
	pool, err := redispool.New(sg.URL, redispool.Options{SentinelAddrs: sg.Addrs, SentinelMaster: sg.Master,
		ReadTimeout: 2 * time.Second, ConnectTimeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pool.Close() })
	acks := &ackCounter{}
	m, err := NewManager(redispool.Single(pool), Config{Lifetime: time.Hour, IdleTimeout: 10 * time.Minute, KeyPrefix: "s:",
		ReplicaAckTimeout: time.Second, OnReplicaAckMissed: acks.missed}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ops := []string{"sign_out", "revoke", "revoke_others", "revoke_all"}
	rounds := failoverRounds(t)
	resurrected := 0
	for round := range rounds {
		op := ops[round%len(ops)]
		uid := int64(round + 1)
		g := Grant{UserID: uid, Name: "u" + strconv.Itoa(round)}
		ended := []string{mustSignIn(t, m, g), mustSignIn(t, m, g)}
		survivor := mustSignIn(t, m, Grant{UserID: 1000 + uid, Name: "keeps"})
		switch op {
		case "sign_out":
			signOut(t, m, ended[0])
			ended = ended[:1]
		case "revoke":
			if _, err := m.Revoke(t.Context(), uid, tokenID(ended[0])); err != nil {
				t.Fatal(err)
			}
			ended = ended[:1]
		case "revoke_others":
			keep := mustSignIn(t, m, g)
			request(t, m, keep, func(w http.ResponseWriter, r *http.Request) {
				if n, err := m.RevokeOthers(r.Context(), uid); err != nil || n != 2 {
					t.Errorf("revoke others: %d, %v", n, err)
				}
			})
		case "revoke_all":
			if n, err := m.RevokeAll(t.Context(), uid, 1, EndPasswordChanged); err != nil || n != 2 {
				t.Fatalf("revoke all: %d, %v", n, err)
			}
		}
		old := sg.KillMaster(t)
		master := sg.WaitNewMaster(t, old, 30*time.Second)
		for _, tok := range ended {
			if err := settled(t, m, tok); err == nil {
				resurrected++
				t.Errorf("round %d (%s): an ended session works again after the failover", round+1, op)
			} else if !errors.Is(err, ErrSignedOut) {
				t.Fatalf("round %d (%s): %v", round+1, op, err)
			}
		}
		if err := settled(t, m, survivor); err != nil {
			t.Fatalf("round %d (%s): a live session was lost in the failover: %v", round+1, op, err)
		}
		if round+1 < rounds {
			sg.Rejoin(t, old, master)
		}
	}
	if got := acks.list(); len(got) != 0 {
		t.Errorf("missed acknowledgements during the rounds: %v", got)
	}
	t.Logf("%d failovers, %d resurrections", rounds, resurrected)
}

// settled returns what a request with tok finds once the store answers
// (during a failover it is unavailable for a moment).
func settled(t *testing.T, m *Manager, tok string) error {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, _, err := current(t, m, tok)
		if !errors.Is(err, ErrUnavailable) || time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}
