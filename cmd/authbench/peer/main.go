// Command peer is authbench's point of comparison: the stock chi + scs +
// scs/redisstore stack serving authd's protected JSON page (see
// internal/loadtest/peer). authbench builds and runs it; it prints "peer
// listening on http://ADDR" once it accepts connections.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/sessionauth/authd/internal/loadtest/peer"
	"github.com/sessionauth/authd/internal/redispool"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "peer:", err)
		os.Exit(1)
	}
}

func run() error {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	redisURL := flag.String("redis", "", "Redis URL (required)")
	maxActive := flag.Int("redis-max-active", 64, "REDIS_MAX_ACTIVE of authd")
	maxIdle := flag.Int("redis-max-idle", 16, "REDIS_MAX_IDLE of authd")
	cost := flag.Int("cost", bcrypt.DefaultCost, "bcrypt cost")
	user := flag.String("user", "bench", "the one user name")
	pw := flag.String("password", "a bench password", "its password")
	flag.Parse()
	if *redisURL == "" {
		return errors.New("-redis is required")
	}
	pool, err := redispool.New(*redisURL, redispool.Options{MaxActive: *maxActive, MaxIdle: *maxIdle})
	if err != nil {
		return err
	}
	defer pool.Close()
	hash, err := bcrypt.GenerateFromPassword([]byte(*pw), *cost)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           peer.Handler(peer.Manager(pool), peer.User{ID: 1, Name: *user, Hash: hash}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	fmt.Printf("peer listening on http://%s\n", ln.Addr())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shut)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
