package loadtest

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sessionauth/authd/internal/password"
)

// ErrUsage marks a command line that could not be understood; the flag
// package has already said why.
var ErrUsage = errors.New("usage")

// Options are authbench's flags.
type Options struct {
	Authd         string
	RedisServer   string
	Duration      time.Duration
	Warmup        time.Duration
	Workers       int
	Cost          int
	Sessions      int
	AgeSessions   bool
	MemSessions   int
	MemUsers      int
	SignInWorkers int
	ProbeRate     float64
	FloodWorkers  int
	MintWorkers   int
	Rounds        int
	Only          []int // scenarios to run; 4 comes with 2
	Nginx         string
	Peer          string
}

func parseFlags(args []string, stderr io.Writer) (Options, error) {
	var o Options
	fs := flag.NewFlagSet("authbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, `authbench starts a private redis-server and the authd binary, runs every
scenario against them in one run, and prints a Markdown table. Run it from
the repository root (or pass -authd). Exit status is non-zero only on errors,
never on a missed target.

Flags:
`)
		fs.PrintDefaults()
	}
	fs.StringVar(&o.Authd, "authd", "", "authd binary to run (default: go build ./cmd/authd into a temporary directory)")
	fs.StringVar(&o.RedisServer, "redis-server", "redis-server", "redis-server binary")
	fs.DurationVar(&o.Duration, "duration", 5*time.Second, "measured time of each scenario")
	fs.DurationVar(&o.Warmup, "warmup", time.Second, "unmeasured load before scenarios 1 and 2; also how long the flood runs (at least 1s) before each flood round is measured")
	fs.IntVar(&o.Workers, "workers", 32, "concurrent keep-alive clients for scenarios 1 and 2")
	fs.IntVar(&o.Cost, "cost", password.DefaultCost, "bcrypt cost (BCRYPT_COST of authd, and of the raw comparison)")
	fs.IntVar(&o.Sessions, "sessions", 10_000, "distinct sessions the protected-page requests spread over (scenarios 2, 4 and 6)")
	fs.BoolVar(&o.AgeSessions, "age-sessions", true, "spread the minted sessions' last refresh over the past SESSION_REFRESH_INTERVAL, as in steady use (see scenario 4)")
	fs.IntVar(&o.MemSessions, "mem-sessions", 100_000, "sessions minted to measure Redis memory per session (scenario 5)")
	fs.IntVar(&o.MemUsers, "mem-users", 0, "distinct users those sessions belong to (0: one per session, the worst case)")
	fs.IntVar(&o.SignInWorkers, "signin-workers", 0, "concurrent sign-ins in scenario 3 (0: 2×GOMAXPROCS)")
	fs.Float64Var(&o.ProbeRate, "probe-rate", 200, "protected-page requests per second, open loop, in scenario 6")
	fs.IntVar(&o.FloodWorkers, "flood-workers", 64, "concurrent wrong-password sign-ins in scenario 6's flood")
	fs.IntVar(&o.Rounds, "rounds", 3, "rounds in which the sides of scenarios 3 (sign-in, raw bcrypt) and 6 (calm, flood) alternate; each measures -duration/rounds")
	fs.IntVar(&o.MintWorkers, "mint-workers", 16, "goroutines minting sessions in-process")
	fs.StringVar(&o.Nginx, "nginx", "nginx", "nginx binary for scenario 7 (also found in /usr/sbin)")
	fs.StringVar(&o.Peer, "peer", "", "peer binary for scenario 9 (default: go build ./cmd/authbench/peer into a temporary directory)")
	only := fs.String("only", "1,2,3,5,6,7,8,9,10,11,12", "scenarios to run, comma-separated (4 is measured with 2)")
	if err := fs.Parse(args); err != nil {
		return o, fmt.Errorf("%w: %w", ErrUsage, err)
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if o.SignInWorkers == 0 {
		o.SignInWorkers = 2 * runtime.GOMAXPROCS(0)
	}
	if o.MemUsers == 0 {
		o.MemUsers = o.MemSessions
	}
	for _, s := range strings.Split(*only, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 || n > lastScenario {
			return o, fmt.Errorf("-only: %q is not a scenario number 1 to %d", s, lastScenario)
		}
		o.Only = append(o.Only, n)
	}
	var errs []error
	check := func(ok bool, msg string) {
		if !ok {
			errs = append(errs, errors.New(msg))
		}
	}
	check(o.Duration > 0 && o.Warmup >= 0, "-duration must be positive and -warmup not negative")
	check(o.Rounds > 0, "-rounds must be positive")
	check(o.Workers > 0 && o.SignInWorkers > 0 && o.FloodWorkers > 0 && o.MintWorkers > 0, "worker counts must be positive")
	check(o.Cost >= password.MinCost && o.Cost <= 31, fmt.Sprintf("-cost must be between %d and 31", password.MinCost))
	check(o.Sessions > 0 && o.MemSessions > 0 && o.MemUsers > 0, "-sessions, -mem-sessions and -mem-users must be positive")
	check(o.ProbeRate > 0, "-probe-rate must be positive")
	return o, errors.Join(errs...)
}

// lastScenario is the highest scenario number.
const lastScenario = 12

// runs reports whether scenario n was asked for. Scenario 4 is measured
// during scenario 2. Scenario 9 (the peer) is compared with 2 and 5.
func (o Options) runs(n int) bool {
	if n == 4 {
		n = 2
	}
	return slices.Contains(o.Only, n)
}
