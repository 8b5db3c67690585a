package testenv

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"
)

// SentinelOptions configure StartSentinels. The zero value runs without
// passwords.
type SentinelOptions struct {
	// Password is the requirepass of master and replica; the replica and
	// the sentinels are given it too (masterauth, auth-pass).
	Password string
	// SentinelPassword is the requirepass of the sentinels.
	SentinelPassword string
}

// Sentinels is a small Redis Sentinel deployment owned by one test: a
// master, one replica and three sentinels (quorum 2) on free loopback ports,
// set to fail over within seconds. Everything is killed when the test ends.
type Sentinels struct {
	// Master is the master name the sentinels monitor.
	Master string
	// Addrs are the sentinels' host:port.
	Addrs []string
	// URL carries the data nodes' password and database 0. Its host does not
	// exist: with Sentinel it must be ignored, and a client that dials it
	// anyway fails.
	URL string

	opts      SentinelOptions
	nodes     []*Redis // master and replica, in start order
	sentinels []*Redis
}

// StartSentinels starts the deployment and returns once the replica is in
// sync and every sentinel sees the master, the replica and both other
// sentinels, so a failover can happen as soon as the master dies.
func StartSentinels(t testing.TB, o SentinelOptions) *Sentinels {
	t.Helper()
	s := &Sentinels{Master: "authd-test", opts: o}
	auth := ""
	if o.Password != "" {
		auth = ":" + o.Password + "@"
	}
	s.URL = "redis://" + auth + "sentinel-ignores-this-host.invalid:6379/0"

	// Diskless sync without its default 5s delay, so the replica is ready
	// at once; the same for both nodes since either may become master.
	nodeArgs := []string{"--repl-diskless-sync-delay", "0"}
	if o.Password != "" {
		nodeArgs = append(nodeArgs, "--requirepass", o.Password, "--masterauth", o.Password)
	}
	master := newRedis(t, o.Password)
	master.start(t, nodeArgs...)
	mhost, mport, _ := net.SplitHostPort(master.Addr)
	replica := newRedis(t, o.Password)
	replica.start(t, append(nodeArgs, "--replicaof", mhost, mport)...)
	s.nodes = []*Redis{master, replica}
	s.waitInSync(t, replica)

	// Sentinels start after the sync: the replica's link status they read
	// first is then "ok", not an error they would keep for 10s.
	lines := []string{
		fmt.Sprintf("sentinel monitor %s %s %s 2", s.Master, mhost, mport),
		fmt.Sprintf("sentinel down-after-milliseconds %s 1000", s.Master),
		fmt.Sprintf("sentinel failover-timeout %s 2000", s.Master),
	}
	if o.Password != "" {
		lines = append(lines, fmt.Sprintf("sentinel auth-pass %s %s", s.Master, o.Password))
	}
	if o.SentinelPassword != "" {
		lines = append(lines, "requirepass "+o.SentinelPassword)
	}
	for range 3 {
		sn := startSentinel(t, o.SentinelPassword, lines)
		s.sentinels = append(s.sentinels, sn)
		s.Addrs = append(s.Addrs, sn.Addr)
	}
	s.waitSentinelsReady(t)
	return s
}

// StartStaleSentinel starts one sentinel that names addr as the master
// called name, as a sentinel with an outdated view would. Its quorum of 2
// is out of its reach alone, so it never fails anything over. addr must not
// be a node of another sentinel group (its announcements would reach that
// group's sentinels). It returns the sentinel's host:port.
func StartStaleSentinel(t testing.TB, name, addr string) string {
	t.Helper()
	host, port, _ := net.SplitHostPort(addr)
	return startSentinel(t, "", []string{fmt.Sprintf("sentinel monitor %s %s %s 2", name, host, port)}).Addr
}

// startSentinel runs redis-server in sentinel mode with its own writable
// config file (sentinels rewrite it with what they learn).
func startSentinel(t testing.TB, password string, lines []string) *Redis {
	t.Helper()
	r := newRedis(t, password)
	_, port, _ := net.SplitHostPort(r.Addr)
	conf := filepath.Join(r.dir, "sentinel.conf")
	head := []string{
		"port " + port, "bind 127.0.0.1", "dir " + r.dir,
		"logfile " + filepath.Join(r.dir, "redis.log"),
	}
	if err := os.WriteFile(conf, []byte(strings.Join(append(head, lines...), "\n")+"\n"), 0o600); err != nil {
		t.Fatalf("write sentinel config: %v", err)
	}
	r.run(t, conf, "--sentinel")
	return r
}

// MasterAddr returns the master's address as the first sentinel that
// answers names it.
func (s *Sentinels) MasterAddr(t testing.TB) string {
	t.Helper()
	var errs []string
	for _, sn := range s.sentinels {
		addr, err := s.ask(sn)
		if err == nil {
			return addr
		}
		errs = append(errs, err.Error())
	}
	t.Fatalf("no sentinel names the master: %s", strings.Join(errs, "; "))
	return ""
}

// Node returns the data node at addr, for Conn or Stop.
func (s *Sentinels) Node(t testing.TB, addr string) *Redis {
	t.Helper()
	for _, n := range s.nodes {
		if n.Addr == addr {
			return n
		}
	}
	t.Fatalf("%s is not a data node of this deployment", addr)
	return nil
}

// KillMaster kills the current master, like Redis.Stop, and returns its
// address. The sentinels notice after about a second and promote the replica.
func (s *Sentinels) KillMaster(t testing.TB) string {
	t.Helper()
	addr := s.MasterAddr(t)
	s.Node(t, addr).Stop(t)
	return addr
}

// Failover asks a sentinel for a manual failover (SENTINEL FAILOVER): the
// replica is promoted and the old master, still running, becomes its replica.
func (s *Sentinels) Failover(t testing.TB) {
	t.Helper()
	c := s.sentinels[0].Conn(t)
	if _, err := c.Do("SENTINEL", "FAILOVER", s.Master); err != nil {
		t.Fatalf("SENTINEL FAILOVER: %v", err)
	}
}

// WaitNewMaster waits until a sentinel names a master other than old that
// confirms with ROLE, and returns its address.
func (s *Sentinels) WaitNewMaster(t testing.TB, old string, within time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		for _, sn := range s.sentinels {
			addr, err := s.ask(sn)
			if err != nil || addr == old {
				continue
			}
			if role, err := s.role(addr); err == nil && role == "master" {
				return addr
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no new master within %v (old %s); sentinel log:\n%s", within, old, s.sentinels[0].log())
	return ""
}

// WaitDemoted waits until the node at addr reports itself a replica. After a
// failover, Sentinel reconfigures a live old master some seconds after the
// promotion; until then it still accepts writes.
func (s *Sentinels) WaitDemoted(t testing.TB, addr string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if role, err := s.role(addr); err == nil && role == "slave" {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	role, err := s.role(addr)
	t.Fatalf("%s not demoted within %v (ROLE %q, %v)", addr, within, role, err)
}

// WaitReplicated blocks until the replica has every write the master has
// acknowledged so far. Replication is asynchronous: without this, a write
// made just before the master dies may be lost in the failover.
func (s *Sentinels) WaitReplicated(t testing.TB) {
	t.Helper()
	c := s.Node(t, s.MasterAddr(t)).Conn(t)
	n, err := redis.Int(c.Do("WAIT", 1, 5000))
	if err != nil || n < 1 {
		t.Fatalf("WAIT 1 5000: %d replicas, %v", n, err)
	}
}

func (s *Sentinels) ask(sn *Redis) (string, error) {
	c, err := redis.Dial("tcp", sn.Addr, redis.DialPassword(s.opts.SentinelPassword),
		redis.DialConnectTimeout(200*time.Millisecond), redis.DialReadTimeout(time.Second))
	if err != nil {
		return "", err
	}
	defer c.Close()
	hp, err := redis.Strings(c.Do("SENTINEL", "get-master-addr-by-name", s.Master))
	if err != nil {
		return "", fmt.Errorf("sentinel %s: %w", sn.Addr, err)
	}
	return net.JoinHostPort(hp[0], hp[1]), nil
}

// role returns what the node at addr answers to ROLE: "master" or "slave".
// It dials afresh each time, since Sentinel disconnects the clients of a
// node it demotes.
func (s *Sentinels) role(addr string) (string, error) {
	c, err := redis.Dial("tcp", addr, redis.DialPassword(s.opts.Password),
		redis.DialConnectTimeout(200*time.Millisecond), redis.DialReadTimeout(time.Second))
	if err != nil {
		return "", err
	}
	defer c.Close()
	v, err := redis.Values(c.Do("ROLE"))
	if err != nil {
		return "", err
	}
	if len(v) == 0 {
		return "", errors.New("empty ROLE reply")
	}
	return redis.String(v[0], nil)
}

func (s *Sentinels) waitInSync(t testing.TB, replica *Redis) {
	t.Helper()
	c := replica.Conn(t)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		info, err := redis.String(c.Do("INFO", "replication"))
		if err == nil && strings.Contains(info, "master_link_status:up") {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("replica %s did not sync within 10s; its log:\n%s", replica.Addr, replica.log())
}

// waitSentinelsReady waits until each sentinel knows the master as up, the
// replica with a working link, and the two other sentinels (found through
// hello messages every 2s); without them there is no quorum to fail over.
func (s *Sentinels) waitSentinelsReady(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for _, sn := range s.sentinels {
		c := sn.Conn(t)
		var last string
		for {
			ok, state := s.sentinelReady(c)
			if ok {
				break
			}
			last = state
			if time.Now().After(deadline) {
				t.Fatalf("sentinel %s not ready within 30s (%s); its log:\n%s", sn.Addr, last, sn.log())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

func (s *Sentinels) sentinelReady(c redis.Conn) (bool, string) {
	m, err := redis.StringMap(c.Do("SENTINEL", "master", s.Master))
	if err != nil {
		return false, err.Error()
	}
	if m["flags"] != "master" || m["num-slaves"] != "1" || m["num-other-sentinels"] != "2" {
		return false, fmt.Sprintf("flags=%s num-slaves=%s num-other-sentinels=%s", m["flags"], m["num-slaves"], m["num-other-sentinels"])
	}
	replicas, err := redis.Values(c.Do("SENTINEL", "replicas", s.Master))
	if err != nil || len(replicas) != 1 {
		return false, fmt.Sprintf("replicas: %d, %v", len(replicas), err)
	}
	r, err := redis.StringMap(replicas[0], nil)
	if err != nil || r["flags"] != "slave" || r["master-link-status"] != "ok" {
		return false, fmt.Sprintf("replica flags=%s master-link-status=%s", r["flags"], r["master-link-status"])
	}
	return true, ""
}

func (r *Redis) log() string {
	b, _ := os.ReadFile(filepath.Join(r.dir, "redis.log"))
	return string(b)
}

// Rejoin restarts the stopped data node at addr as a replica of master
// (what WaitNewMaster returned: right after a failover, a sentinel may
// still name the old one), and returns once it is in sync and every
// sentinel sees it with a working link again: the deployment can then fail
// over once more.
func (s *Sentinels) Rejoin(t testing.TB, addr, master string) {
	t.Helper()
	mhost, mport, _ := net.SplitHostPort(master)
	args := []string{"--repl-diskless-sync-delay", "0", "--replicaof", mhost, mport}
	if s.opts.Password != "" {
		args = append(args, "--requirepass", s.opts.Password, "--masterauth", s.opts.Password)
	}
	n := s.Node(t, addr)
	n.start(t, args...)
	s.waitInSync(t, n)
	s.waitSentinelsReady(t)
}
