package rediscluster_test

import (
	"fmt"
	"testing"

	"github.com/gomodule/redigo/redis"

	"github.com/sessionauth/authd/internal/rediscluster"
	"github.com/sessionauth/authd/internal/session"
	"github.com/sessionauth/authd/internal/testenv"
)

// Slot agrees with CLUSTER KEYSLOT of a real cluster node on the
// specification's example, on hash-tag edge cases and on authd's own
// session keys, and every key of one user falls in one slot.
func TestSlotMatchesRedis(t *testing.T) {
	t.Parallel()
	cl := testenv.StartCluster(t, 3, 0)
	c := cl.Nodes[0].Conn(t)
	keys := []string{"123456789", "", "foo", "{user1000}.following", "{user1000}.followers", "foo{}{bar}",
		"foo{{bar}}zap", "foo{bar}{zap}", "{", "}", "{}", "a{b", "a}b{c}", "\xff\x00{\x01}", "authd:session:{3f}abc"}
	for i := range 200 {
		keys = append(keys, fmt.Sprintf("k%d", i), fmt.Sprintf("x{t%d}y", i))
	}
	for uid := int64(1); uid <= 50; uid++ {
		keys = append(keys, session.IndexKey("authd:session:", uid))
	}
	for _, k := range keys {
		want, err := redis.Int(c.Do("CLUSTER", "KEYSLOT", k))
		if err != nil {
			t.Fatalf("CLUSTER KEYSLOT %q: %v", k, err)
		}
		if got := rediscluster.Slot(k); got != want {
			t.Errorf("Slot(%q) = %d, CLUSTER KEYSLOT says %d", k, got, want)
		}
	}
	if got := rediscluster.Slot("123456789"); got != 0x31C3%rediscluster.Slots {
		t.Errorf("Slot(123456789) = %d, want the spec's CRC16 0x31C3 mod 16384 = %d", got, 0x31C3%rediscluster.Slots)
	}
}
