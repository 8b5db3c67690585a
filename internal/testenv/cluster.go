package testenv

import (
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"
)

// Cluster is a Redis Cluster owned by one test: primaries, and replicas
// when asked for, on free loopback ports, joined with redis-cli --cluster
// create, every slot assigned. Everything is killed when the test ends.
type Cluster struct {
	Nodes []*Redis // primaries first, then replicas, as created
}

// StartCluster starts primaries (at least 3) cluster-enabled redis-servers
// with replicas each, joins them and returns once every node reports
// cluster_state:ok and every replica is in sync. A primary that does not
// answer for a second (cluster-node-timeout) is failed over by its replica.
func StartCluster(t testing.TB, primaries, replicas int) *Cluster {
	t.Helper()
	if primaries < 3 {
		t.Fatalf("a Redis Cluster needs at least 3 primaries, not %d", primaries)
	}
	if _, err := exec.LookPath("redis-cli"); err != nil {
		t.Fatalf("redis-cli not found in PATH (apt-get install redis-tools): %v", err)
	}
	c := &Cluster{}
	addrs := make([]string, 0, primaries*(1+replicas))
	for range primaries * (1 + replicas) {
		r := newRedis(t, "")
		r.start(t, "--cluster-enabled", "yes", "--cluster-config-file", r.dir+"/nodes.conf",
			"--cluster-node-timeout", "1000", "--appendonly", "no")
		c.Nodes = append(c.Nodes, r)
		addrs = append(addrs, r.Addr)
	}
	args := append(append([]string{"--cluster", "create"}, addrs...),
		"--cluster-replicas", strconv.Itoa(replicas), "--cluster-yes")
	if out, err := exec.Command("redis-cli", args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	c.WaitOK(t, 30*time.Second)
	return c
}

// WaitOK waits until every running node reports cluster_state:ok, every
// slot is served, and each primary has all its replicas online.
func (c *Cluster) WaitOK(t testing.TB, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for _, r := range c.Nodes {
		if r.cmd == nil {
			continue
		}
		for {
			info, err := redis.String(r.Conn(t).Do("CLUSTER", "INFO"))
			if err == nil && strings.Contains(info, "cluster_state:ok") && strings.Contains(info, "cluster_slots_ok:16384") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("cluster node %s not ok within %s: %v\n%s", r.Addr, within, err, info)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
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

// Node returns the node at addr.
func (c *Cluster) Node(t testing.TB, addr string) *Redis {
	t.Helper()
	for _, r := range c.Nodes {
		if r.Addr == addr {
			return r
		}
	}
	t.Fatalf("no cluster node at %s in %s", addr, c)
	return nil
}

// running returns a node that is up, for asking about the cluster.
func (c *Cluster) running(t testing.TB, except string) *Redis {
	t.Helper()
	for _, r := range c.Nodes {
		if r.cmd != nil && r.Addr != except {
			return r
		}
	}
	t.Fatal("no cluster node is running")
	return nil
}

// slotRange is one line of CLUSTER SLOTS: slots start…end served by addr.
type slotRange struct {
	start, end int
	addr       string
}

// ranges returns the slot map as a running node other than except sees it.
func (c *Cluster) ranges(t testing.TB, except string) []slotRange {
	t.Helper()
	reply, err := redis.Values(c.running(t, except).Conn(t).Do("CLUSTER", "SLOTS"))
	if err != nil {
		t.Fatalf("CLUSTER SLOTS: %v", err)
	}
	var out []slotRange
	for _, rg := range reply {
		f, _ := redis.Values(rg, nil)
		start, _ := redis.Int(f[0], nil)
		end, _ := redis.Int(f[1], nil)
		node, _ := redis.Values(f[2], nil)
		host, _ := redis.String(node[0], nil)
		port, _ := redis.Int(node[1], nil)
		out = append(out, slotRange{start, end, fmt.Sprintf("%s:%d", host, port)})
	}
	return out
}

// OwnerOf returns the address of the primary that serves slot, as a
// running node other than except sees it ("" when none does).
func (c *Cluster) OwnerOf(t testing.TB, slot int, except string) string {
	t.Helper()
	for _, r := range c.ranges(t, except) {
		if r.start <= slot && slot <= r.end {
			return r.addr
		}
	}
	return ""
}

// SlotsOf returns the slots the primary at addr serves, in order.
func (c *Cluster) SlotsOf(t testing.TB, addr string) []int {
	t.Helper()
	var out []int
	for _, r := range c.ranges(t, "") {
		for s := r.start; r.addr == addr && s <= r.end; s++ {
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return out
}

// Primaries returns the addresses of the primaries that serve slots.
func (c *Cluster) Primaries(t testing.TB) []string {
	t.Helper()
	var out []string
	for _, r := range c.ranges(t, "") {
		if !slices.Contains(out, r.addr) {
			out = append(out, r.addr)
		}
	}
	return out
}

// Kill kills the node at addr at once (no shutdown, no final save).
func (c *Cluster) Kill(t testing.TB, addr string) {
	t.Helper()
	c.Node(t, addr).kill()
}

// WaitFailover waits until slot is served by a primary other than old
// (its replica, promoted) and the cluster is ok again.
func (c *Cluster) WaitFailover(t testing.TB, slot int, old string, within time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		if owner := c.OwnerOf(t, slot, old); owner != "" && owner != old {
			c.WaitOK(t, time.Until(deadline))
			return owner
		}
		if time.Now().After(deadline) {
			t.Fatalf("slot %d still served by the killed primary %s after %s", slot, old, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ID returns the cluster node id of the node at addr.
func (c *Cluster) ID(t testing.TB, addr string) string {
	t.Helper()
	id, err := redis.String(c.Node(t, addr).Conn(t).Do("CLUSTER", "MYID"))
	if err != nil {
		t.Fatalf("CLUSTER MYID on %s: %v", addr, err)
	}
	return id
}

// Reshard moves n slots from the primary at from to the one at to with
// redis-cli --cluster reshard (keys and all, slot after slot, as an
// operator would), and returns redis-cli's output.
func (c *Cluster) Reshard(t testing.TB, from, to string, n int) string {
	t.Helper()
	out, err := exec.Command("redis-cli", "--cluster", "reshard", from,
		"--cluster-from", c.ID(t, from), "--cluster-to", c.ID(t, to),
		"--cluster-slots", strconv.Itoa(n), "--cluster-yes").CombinedOutput()
	if err != nil {
		t.Fatalf("redis-cli --cluster reshard: %v\n%s", err, out)
	}
	return string(out)
}
