// Command authd is a web server that signs people in and keeps them signed
// in with server-side sessions in Redis. See README.md.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/sessionauth/authd/internal/cli"
)

func main() {
	err := cli.Run(context.Background(), cli.Env{
		Args: os.Args[1:], Getenv: os.Getenv,
		Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
	})
	switch {
	case err == nil:
	case cli.IsUsage(err):
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "authd:", err)
		os.Exit(1)
	}
}
