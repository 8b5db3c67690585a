// Package redispool builds the redigo connection pool the server shares
// between its session store and its health checks.
package redispool

import (
	"context"
	"errors"
	"fmt"
	"net/url"
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
func New(rawURL string, o Options) (*redis.Pool, error) {
	if err := CheckURL(rawURL); err != nil {
		return nil, err
	}
	o.defaults()
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
		// A connection idle for a while may have been cut by Redis or a
		// proxy; check it before handing it to a request.
		TestOnBorrow: func(c redis.Conn, idleSince time.Time) error {
			if time.Since(idleSince) < time.Minute {
				return nil
			}
			_, err := c.Do("PING")
			return err
		},
	}, nil
}

// CheckURL reports whether rawURL is a Redis URL the pool can dial.
func CheckURL(rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return errors.New("redis URL is not a valid URL")
	}
	if u.Scheme != "redis" && u.Scheme != "rediss" {
		return fmt.Errorf("redis URL %s: scheme must be redis:// or rediss://", Redact(rawURL))
	}
	if u.Host == "" {
		return fmt.Errorf("redis URL %s: missing host", Redact(rawURL))
	}
	return nil
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
	if _, err := redis.DoContext(c, ctx, "PING"); err != nil {
		return fmt.Errorf("redis: ping: %w", err)
	}
	return nil
}
