package redispool

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gomodule/redigo/redis"
)

// roleCheckAfter is how long a pooled connection may sit idle before it is
// asked ROLE again on borrow. A failover takes seconds (Sentinel's
// down-after-milliseconds plus an election), so a connection used within the
// last second was talking to the master very recently; checking only the
// idle ones costs busy servers nothing and quiet ones one round trip.
const roleCheckAfter = time.Second

// errNotMaster reports a node that answered ROLE with something other than
// "master": a stale sentinel named a demoted node, or a failover is under way.
var errNotMaster = errors.New("node is not a master")

// errUnknownMaster reports a sentinel that does not monitor the master name.
var errUnknownMaster = errors.New("sentinel does not know the master name")

// sentinels finds the current master through Redis Sentinel, following the
// Sentinel client guidelines (https://redis.io/docs/latest/develop/reference/sentinel-clients/):
// ask each sentinel in turn for the master's address, confirm with ROLE that
// the node it names really is a master, and move the sentinel that answered
// correctly to the front of the list.
type sentinels struct {
	name      string
	masterURL url.URL            // scheme, auth and db for the master; Host is replaced per dial
	opts      []redis.DialOption // timeouts, for sentinels and master alike
	sentOpts  []redis.DialOption // opts plus the sentinels' own password and TLS

	mu     sync.Mutex
	addrs  []string // sentinels, the last one that answered correctly first
	master string   // address of the last master confirmed by ROLE
}

func newSentinels(u *url.URL, o Options) *sentinels {
	opts := []redis.DialOption{
		redis.DialConnectTimeout(o.ConnectTimeout),
		redis.DialReadTimeout(o.ReadTimeout),
		redis.DialWriteTimeout(o.WriteTimeout),
	}
	return &sentinels{
		name:      o.SentinelMaster,
		masterURL: *u,
		opts:      opts,
		// Sentinels use TLS when the master does (rediss://), like the rest of
		// a TLS deployment; they have their own password, if any.
		sentOpts: append(slices.Clip(opts),
			redis.DialPassword(o.SentinelPassword),
			redis.DialUseTLS(u.Scheme == "rediss")),
		addrs: slices.Clone(o.SentinelAddrs),
	}
}

// dial connects to the current master. Every call resolves afresh, so a new
// connection always follows the latest failover. A sentinel that cannot be
// reached, does not know the name, or names a node that is not a master
// (a stale sentinel can name a demoted one) is skipped for the next.
func (s *sentinels) dial(ctx context.Context) (redis.Conn, error) {
	var errs []error
	failed := map[string]error{} // masters that failed this round: sentinels often agree
	for _, sa := range s.order() {
		addr, err := s.ask(ctx, sa)
		if err != nil {
			errs = append(errs, fmt.Errorf("sentinel %s: %w", sa, err))
		} else if ferr, seen := failed[addr]; seen {
			errs = append(errs, fmt.Errorf("sentinel %s: master %s: %w", sa, addr, ferr))
		} else {
			c, err := s.dialMaster(ctx, addr)
			if err == nil {
				s.confirmed(sa, addr)
				return c, nil
			}
			failed[addr] = err
			errs = append(errs, fmt.Errorf("sentinel %s: master %s: %w", sa, addr, err))
		}
		if ctx.Err() != nil {
			break // the caller gave up; the remaining sentinels would fail the same way
		}
	}
	return nil, fmt.Errorf("redis: dial master %q via sentinels: %w", s.name, errors.Join(errs...))
}

// ask returns the address that sentinel sa gives for the master.
func (s *sentinels) ask(ctx context.Context, sa string) (string, error) {
	c, err := redis.DialContext(ctx, "tcp", sa, s.sentOpts...)
	if err != nil {
		return "", err
	}
	defer c.Close()
	hp, err := redis.Strings(redis.DoContext(c, ctx, "SENTINEL", "get-master-addr-by-name", s.name))
	if errors.Is(err, redis.ErrNil) {
		return "", fmt.Errorf("%w %q", errUnknownMaster, s.name)
	}
	if err != nil {
		return "", err
	}
	if len(hp) != 2 {
		return "", fmt.Errorf("unexpected reply %q to get-master-addr-by-name", hp)
	}
	return net.JoinHostPort(hp[0], hp[1]), nil
}

// dialMaster connects to addr with the URL's password, database and TLS
// setting, and checks that the node is a master.
func (s *sentinels) dialMaster(ctx context.Context, addr string) (redis.Conn, error) {
	u := s.masterURL
	u.Host = addr
	c, err := redis.DialURLContext(ctx, u.String(), s.opts...)
	if err != nil {
		return nil, err
	}
	cc, ok := c.(ctxConn)
	if !ok {
		c.Close()
		return nil, errors.New("redigo connection does not support contexts")
	}
	if err := checkRole(ctx, c); err != nil {
		c.Close()
		return nil, err
	}
	return &masterConn{ctxConn: cc, addr: addr}, nil
}

// confirmed records that sentinel sa named master addr correctly.
func (s *sentinels) confirmed(sa, addr string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.master = addr
	if i := slices.Index(s.addrs, sa); i > 0 {
		copy(s.addrs[1:i+1], s.addrs[:i])
		s.addrs[0] = sa
	}
}

func (s *sentinels) order() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.addrs)
}

func (s *sentinels) currentMaster() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.master
}

// testOnBorrow keeps the pool from handing out a connection to a node that
// is no longer master. Two checks, cheapest first:
//   - a connection to another address than the last confirmed master is
//     dropped without any I/O: a newer dial has already seen a failover;
//   - a connection idle for more than roleCheckAfter is asked ROLE, because
//     the failover may have happened while it sat in the pool and no dial
//     has noticed yet.
//
// Connections used within the last second are handed out unchecked; if the
// master changed under them, the command fails (connection error, or
// READONLY from a demoted node), the request gets a 503, and masterConn makes
// sure the connection is not pooled again.
func (s *sentinels) testOnBorrow(ctx context.Context, c redis.Conn, lastUsed time.Time) error {
	mc, ok := c.(*masterConn)
	if !ok {
		return errors.New("redis sentinel: foreign connection in pool")
	}
	if cur := s.currentMaster(); mc.addr != cur {
		return fmt.Errorf("redis sentinel: master moved from %s to %s", mc.addr, cur)
	}
	if time.Since(lastUsed) < roleCheckAfter {
		return nil
	}
	// Short, like the plain pool's PING: idle connections are tried one
	// after another when a node hangs.
	ctx, cancel := context.WithTimeout(ctx, healthCheckTimeout)
	defer cancel()
	return checkRole(ctx, c)
}

// checkRole returns errNotMaster unless c's node answers ROLE with "master".
func checkRole(ctx context.Context, c redis.Conn) error {
	v, err := redis.Values(redis.DoContext(c, ctx, "ROLE"))
	if err != nil {
		return fmt.Errorf("ROLE: %w", err)
	}
	if len(v) == 0 {
		return fmt.Errorf("ROLE: empty reply")
	}
	role, err := redis.String(v[0], nil)
	if err != nil {
		return fmt.Errorf("ROLE: %w", err)
	}
	if role != "master" {
		return fmt.Errorf("%w (ROLE says %q)", errNotMaster, role)
	}
	return nil
}

// ctxConn is what redigo's own connections implement; the pool needs the
// context and timeout variants to pass through the wrapper.
type ctxConn interface {
	redis.ConnWithContext
	redis.ConnWithTimeout
}

// masterConn is a connection to the node a sentinel named as master. It
// remembers that node's address for testOnBorrow, and it marks itself
// unusable after a reply that means the node is not (or not yet) a usable
// master, so the pool closes it instead of reusing it: redigo pools every
// connection whose Err is nil, and an error reply leaves Err nil.
type masterConn struct {
	ctxConn
	addr     string
	unusable atomic.Pointer[redis.Error]
}

// Err reports the underlying connection's error, or the reply that made it
// unusable.
func (c *masterConn) Err() error {
	if e := c.unusable.Load(); e != nil {
		return fmt.Errorf("redis sentinel: %s stopped being a usable master: %w", c.addr, *e)
	}
	return c.ctxConn.Err()
}

// note inspects an error reply. READONLY: the node was demoted to replica.
// LOADING: it restarted and is loading its data. MASTERDOWN: it is a
// replica that lost its master. In each case the next connection should be
// resolved through the sentinels again.
func (c *masterConn) note(reply any, err error) (any, error) {
	var re redis.Error
	if errors.As(err, &re) {
		for _, p := range []string{"READONLY ", "LOADING ", "MASTERDOWN "} {
			if strings.HasPrefix(string(re), p) {
				c.unusable.Store(&re)
			}
		}
	}
	return reply, err
}

func (c *masterConn) Do(cmd string, args ...any) (any, error) {
	return c.note(c.ctxConn.Do(cmd, args...))
}

func (c *masterConn) DoContext(ctx context.Context, cmd string, args ...any) (any, error) {
	return c.note(c.ctxConn.DoContext(ctx, cmd, args...))
}

func (c *masterConn) DoWithTimeout(d time.Duration, cmd string, args ...any) (any, error) {
	return c.note(c.ctxConn.DoWithTimeout(d, cmd, args...))
}

func (c *masterConn) Receive() (any, error) {
	return c.note(c.ctxConn.Receive())
}

func (c *masterConn) ReceiveContext(ctx context.Context) (any, error) {
	return c.note(c.ctxConn.ReceiveContext(ctx))
}

func (c *masterConn) ReceiveWithTimeout(d time.Duration) (any, error) {
	return c.note(c.ctxConn.ReceiveWithTimeout(d))
}
