// Package redispool builds the redigo connection pool the server shares
// between its session store and its health checks.
package redispool

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gomodule/redigo/redis"
)

// Options bound the pool. Zero values take the defaults noted on each field.
type Options struct {
	MaxActive      int           // connections open at most (default 64)
	MaxIdle        int           // idle connections kept for reuse (default 16)
	IdleTimeout    time.Duration // close connections idle longer (default 5m)
	ConnectTimeout time.Duration // TCP/TLS dial (default 2s)
	// ReadTimeout and WriteTimeout bound each command. redigo sets none by
	// default, so a stalled Redis would hang every request (default 2s each).
	ReadTimeout  time.Duration
	WriteTimeout time.Duration
	// ReplicaAckTimeout is not the pool's: it is how long the session store
	// waits for replicas after a revocation (session.Config), kept here with
	// the other Redis settings. Zero: no wait.
	ReplicaAckTimeout time.Duration

	// SentinelAddrs (host:port of each sentinel) turn on Redis Sentinel: the
	// pool asks them, in order, for the address of the master named
	// SentinelMaster, and the host of the Redis URL is ignored. The URL's
	// scheme, password and database still apply to the master (rediss://
	// also makes the sentinels be reached over TLS). Empty: dial the URL.
	SentinelAddrs  []string
	SentinelMaster string
	// SentinelPassword authenticates to the sentinels (their requirepass),
	// which is separate from the master's password in the URL.
	SentinelPassword string

	// ClusterAddrs (host:port of some nodes) turn on Redis Cluster: the
	// slot map is learnt from them and each primary gets its own pool (see
	// Open); the URL's password and TLS setting apply to every node. A
	// redis+cluster:// URL does the same.
	ClusterAddrs []string
}

func (o *Options) defaults() {
	set := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if o.MaxActive <= 0 {
		o.MaxActive = 64
	}
	if o.MaxIdle <= 0 {
		o.MaxIdle = 16
	}
	o.MaxIdle = min(o.MaxIdle, o.MaxActive)
	set(&o.IdleTimeout, 5*time.Minute)
	set(&o.ConnectTimeout, 2*time.Second)
	set(&o.ReadTimeout, 2*time.Second)
	set(&o.WriteTimeout, 2*time.Second)
}

// New returns a pool for rawURL (redis:// or rediss://, with optional
// password and database number, e.g. redis://:secret@host:6379/2). It does
// not connect: the server starts while Redis is down and reports it in
// /readyz. Callers take connections with GetContext, so a request waiting
// for a free connection gives up when its context ends.
//
// With o.SentinelAddrs set, every new connection goes to the master the
// sentinels name (see sentinel.go), and pooled connections to a node that is
// no longer master are not handed out again.
func New(rawURL string, o Options) (*redis.Pool, error) {
	if err := CheckURL(rawURL); err != nil {
		return nil, err
	}
	o.defaults()
	if len(o.SentinelAddrs) > 0 {
		return newSentinelPool(rawURL, o)
	}
	return &redis.Pool{
		MaxActive:   o.MaxActive,
		MaxIdle:     o.MaxIdle,
		IdleTimeout: o.IdleTimeout,
		Wait:        true,
		DialContext: func(ctx context.Context) (redis.Conn, error) {
			c, err := redis.DialURLContext(ctx, rawURL,
				redis.DialConnectTimeout(o.ConnectTimeout),
				redis.DialReadTimeout(o.ReadTimeout),
				redis.DialWriteTimeout(o.WriteTimeout))
			if err != nil {
				return nil, fmt.Errorf("redis: dial %s: %w", Redact(rawURL), err)
			}
			return c, nil
		},
		// A connection idle for a while may have been cut by Redis (a
		// restart) or a proxy; check it before handing it to a request, or
		// every pooled connection would fail one request after Redis comes
		// back. Under load connections are never idle that long, so the
		// PING costs nothing there. The PING gets a short timeout of its own:
		// when Redis hangs, the pool tries its idle connections one after
		// another, and a full read timeout each would add up to many seconds.
		TestOnBorrowContext: func(ctx context.Context, c redis.Conn, idleSince time.Time) error {
			if time.Since(idleSince) < idleCheckAfter {
				return nil
			}
			ctx, cancel := context.WithTimeout(ctx, healthCheckTimeout)
			defer cancel()
			_, err := Do(ctx, c, "PING")
			return err
		},
	}, nil
}

// idleCheckAfter is how long a pooled connection may sit unused before it
// is checked on borrow; healthCheckTimeout bounds that check (a healthy
// Redis answers PING in well under a millisecond).
const (
	idleCheckAfter     = time.Second
	healthCheckTimeout = 200 * time.Millisecond
)

func newSentinelPool(rawURL string, o Options) (*redis.Pool, error) {
	if o.SentinelMaster == "" {
		return nil, errors.New("redis sentinel: master name missing")
	}
	for _, a := range o.SentinelAddrs {
		if err := CheckSentinelAddr(a); err != nil {
			return nil, err
		}
	}
	u, err := url.Parse(rawURL) // checked by CheckURL
	if err != nil {
		return nil, err
	}
	s := newSentinels(u, o)
	return &redis.Pool{
		MaxActive:           o.MaxActive,
		MaxIdle:             o.MaxIdle,
		IdleTimeout:         o.IdleTimeout,
		Wait:                true,
		DialContext:         s.dial,
		TestOnBorrowContext: s.testOnBorrow,
	}, nil
}

// CheckSentinelAddr reports whether addr is a host:port a sentinel can be
// dialled at.
func CheckSentinelAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" || port == "" {
		return fmt.Errorf("sentinel address %q: want host:port", addr)
	}
	return nil
}

// CheckURL reports whether rawURL is a Redis URL the pool can dial.
func CheckURL(rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme == "" && u.Host == "") {
		// The value is shown only when it cannot hold a password.
		shown := "the value"
		if !strings.Contains(rawURL, "@") {
			shown = fmt.Sprintf("%q", rawURL)
		}
		hint := ""
		if _, _, err := net.SplitHostPort(rawURL); err == nil && !strings.Contains(rawURL, "@") {
			hint = fmt.Sprintf(" (for this address: redis://%s/0)", rawURL)
		}
		return fmt.Errorf("redis URL: %s is not a URL; %s%s", shown, wantForm, hint)
	}
	if u.Scheme == "redis+cluster" || u.Scheme == "rediss+cluster" {
		return checkClusterURL(u)
	}
	if u.Scheme != "redis" && u.Scheme != "rediss" {
		return fmt.Errorf("redis URL %s: scheme must be redis://, rediss:// or redis+cluster://; %s", Redact(rawURL), wantForm)
	}
	if u.Host == "" {
		return fmt.Errorf("redis URL %s: missing host; %s", Redact(rawURL), wantForm)
	}
	if db := strings.TrimPrefix(u.Path, "/"); db != "" {
		if n, err := strconv.Atoi(db); err != nil || n < 0 {
			return fmt.Errorf("redis URL %s: the path must be a database number such as /0, not %q", Redact(rawURL), u.Path)
		}
	}
	return nil
}

// wantForm is the expected form of a Redis URL, for error messages.
const wantForm = "want redis://[:password@]host:port/db, e.g. redis://127.0.0.1:6379/0 (rediss:// for TLS)"

// IsRefusal reports whether err is Redis answering with an error (such as
// a wrong password or a database number it does not have) rather than not
// answering at all.
func IsRefusal(err error) bool {
	var re redis.Error
	return errors.As(err, &re)
}

// Redact returns rawURL with any password replaced, for logs and errors.
func Redact(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// Ping checks that Redis answers, within ctx.
func Ping(ctx context.Context, p *redis.Pool) error {
	c, err := p.GetContext(ctx)
	if err != nil {
		return fmt.Errorf("redis: get connection: %w", err)
	}
	defer c.Close()
	if _, err := Do(ctx, c, "PING"); err != nil {
		return fmt.Errorf("redis: ping: %w", err)
	}
	return nil
}

// Do runs one command on c within ctx's deadline and the connection's read
// timeout. Unlike redis.DoContext, which starts a goroutine per command to
// watch ctx, it honours only ctx's deadline and whether ctx has already
// ended: a command is short and the read timeout bounds the rest. That
// keeps the one GET of a signed-in request free of a goroutine and a
// channel, and leaves nothing running after a client disconnects.
func Do(ctx context.Context, c redis.Conn, cmd string, args ...any) (any, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		return redis.DoWithTimeout(c, max(time.Until(dl), time.Millisecond), cmd, args...)
	}
	return c.Do(cmd, args...)
}

// DoScript runs a Lua script like Do runs a command (EVALSHA, then EVAL
// when the server does not have the script yet).
func DoScript(ctx context.Context, c redis.Conn, s *redis.Script, keysAndArgs ...any) (any, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return s.Do(c, keysAndArgs...)
}
