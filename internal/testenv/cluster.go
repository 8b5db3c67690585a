package testenv

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"
)

// Cluster is a Redis Cluster owned by one test: primaries (and no
// replicas) on free loopback ports, joined with redis-cli --cluster
// create, every slot assigned. Everything is killed when the test ends.
type Cluster struct {
	Nodes []*Redis
}

// StartCluster starts n (at least 3) cluster-enabled redis-servers, joins
// them and returns once every node reports cluster_state:ok.
func StartCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	if n < 3 {
		t.Fatalf("a Redis Cluster needs at least 3 primaries, not %d", n)
	}
	if _, err := exec.LookPath("redis-cli"); err != nil {
		t.Fatalf("redis-cli not found in PATH (apt-get install redis-tools): %v", err)
	}
	c := &Cluster{}
	addrs := make([]string, 0, n)
	for range n {
		r := newRedis(t, "")
		r.start(t, "--cluster-enabled", "yes", "--cluster-config-file", r.dir+"/nodes.conf",
			"--cluster-node-timeout", "1000")
		c.Nodes = append(c.Nodes, r)
		addrs = append(addrs, r.Addr)
	}
	args := append(append([]string{"--cluster", "create"}, addrs...), "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.Command("redis-cli", args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	deadline := time.Now().Add(20 * time.Second)
	for _, r := range c.Nodes {
		for {
			info, err := redis.String(r.Conn(t).Do("CLUSTER", "INFO"))
			if err == nil && strings.Contains(info, "cluster_state:ok") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("cluster node %s not ok within 20s: %v\n%s", r.Addr, err, info)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return c
}

// Addrs returns the nodes' host:port.
func (c *Cluster) Addrs() []string {
	out := make([]string, len(c.Nodes))
	for i, r := range c.Nodes {
		out[i] = r.Addr
	}
	return out
}

// String names the nodes, for failure messages.
func (c *Cluster) String() string { return fmt.Sprint(c.Addrs()) }
