// Command authbench measures authd end to end: it starts a private
// redis-server and the authd binary, runs every scenario in one run, and
// prints a Markdown table. See internal/loadtest.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/sessionauth/authd/internal/loadtest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := loadtest.Run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	switch {
	case err == nil:
	case errors.Is(err, loadtest.ErrUsage):
		os.Exit(2) // flag has printed the problem and the usage
	default:
		fmt.Fprintln(os.Stderr, "authbench:", err)
		os.Exit(1)
	}
}
