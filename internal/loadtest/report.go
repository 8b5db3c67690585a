package loadtest

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// Targets, from the issues.
const (
	targetProtectedRatio = 0.7  // (2)/(1) requests per second, at least
	targetSignInRatio    = 0.9  // (3)/raw bcrypt, at least
	targetReads          = 1.0  // (4) reads per request, at most
	targetWrites         = 0.05 // (4) writes per request, at most
	targetBytes          = 250  // (5) bytes per session, at most
	targetFloodP99       = 2.0  // (6) flood p99 / calm p99, at most
	targetPeerRatio      = 1.3  // (2)/(9) requests per second, at least
	targetPeerWrites     = 20.0 // (9c) writes / (4) writes, at least
)

// Report is everything a run measured; nil fields were not run.
type Report struct {
	Opts            Options
	CPUModel        string
	NumCPU          int
	GOMAXPROCS      int
	GoVersion       string
	RedisVersion    string
	IdleTimeout     time.Duration
	RefreshInterval time.Duration

	Public, Protected *Measured
	Commands          *PerRequest
	Bcrypt, SignIn    *Measured
	Calm, Flood       *Measured
	FloodRate         float64 // wrong-password sign-ins answered per second during Flood
	Memory            *MemoryResult

	// Forward auth: the app through nginx without and with auth_request
	// (7), and authd's verify endpoint alone (8).
	NginxPlain, NginxProtected *Measured
	NginxCommands              *PerRequest
	Verify                     *Measured
	VerifyCommands             *PerRequest

	// The peer, chi + scs + scs/redisstore (9).
	Peer         *Measured
	PeerCommands *PerRequest
	PeerMemory   *MemoryResult
	// Tokens (issue 8): password grant against raw bcrypt (10, 10r), refresh
	// (11) with its Redis commands and one token session's memory, /api/me
	// with a cookie and with a JWT (12c, 12j).
	PasswordGrant, GrantBcrypt *Measured
	Refresh                    *Measured
	RefreshCommands            *PerRequest
	TokenSessionBytes          int64
	MeCookie, MeJWT            *Measured
}

// MemoryResult is scenario 5.
type MemoryResult struct {
	Sessions, Users int
	Before, After   int64   // used_memory
	MintRate        float64 // sessions minted per second
	// One record, for reading the figure.
	KeyBytes, ValueBytes, UsageBytes int64
}

// PerSession is the used_memory growth per session.
func (m MemoryResult) PerSession() float64 { return float64(m.After-m.Before) / float64(m.Sessions) }

// Write prints the report as Markdown.
func (r *Report) Write(w io.Writer) {
	o := r.Opts
	fmt.Fprintf(w, "\n## authbench\n\n")
	fmt.Fprintf(w, "- Machine: %s, %d CPUs; GOMAXPROCS %d. authd, redis-server and this load generator share these %d CPUs, so every figure includes the generator's own CPU use (see the CPU table).\n",
		r.CPUModel, r.NumCPU, r.GOMAXPROCS, r.NumCPU)
	fmt.Fprintf(w, "- %s, Redis %s (private, no persistence), bcrypt cost %d, session idle timeout %s, refresh interval %s.\n",
		r.GoVersion, r.RedisVersion, o.Cost, r.IdleTimeout, r.RefreshInterval)
	fmt.Fprintf(w, "- Each scenario is measured for %s after a %s warm-up; 1 runs half before 2 and half after; 3 alternates with 3r, and 6c with 6f, in %d rounds; each 6f round starts after %s of flood. Keep-alive clients, closed loop: %d (1, 2), %d (3); 6: %s req/s open loop, latency counted from each request's scheduled start; flood of %d clients.\n\n",
		o.Duration, o.Warmup, o.Rounds, max(o.Warmup, time.Second), o.Workers, o.SignInWorkers, num(o.ProbeRate), o.FloodWorkers)

	fmt.Fprintln(w, "| # | Scenario | req/s | p50 | p99 | Figure | Target | Result |")
	fmt.Fprintln(w, "|---|---|--:|--:|--:|---|---|---|")
	row := func(n, name string, m *Measured, figure, target, result string) {
		rate, p50, p99 := "—", "—", "—"
		if m != nil {
			rate, p50, p99 = num(m.Rate()), dur(m.P(50)), dur(m.P(99))
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", n, name, rate, p50, p99, figure, target, result)
	}
	if r.Public != nil {
		row("1", "public page, GET /healthz (no session lookup)", r.Public, "baseline", "—", "—")
	}
	if r.Protected != nil {
		fig, res := "—", "—"
		if r.Public != nil {
			ratio := r.Protected.Rate() / r.Public.Rate()
			fig, res = fmt.Sprintf("%.2f × (1)", ratio), judged(ratio >= targetProtectedRatio, r.Public, r.Protected)
		}
		row("2", fmt.Sprintf("protected page, GET /api/me over %s sessions", count(o.Sessions)), r.Protected,
			fig, fmt.Sprintf("≥ %.1f × (1)", targetProtectedRatio), res)
	}
	if r.SignIn != nil {
		ratio := r.SignIn.Rate() / r.Bcrypt.Rate()
		row("3", fmt.Sprintf("sign-in, POST /login (correct password), %d clients", o.SignInWorkers), r.SignIn,
			fmt.Sprintf("%.2f × raw bcrypt", ratio), fmt.Sprintf("≥ %.1f × raw bcrypt", targetSignInRatio), judged(ratio >= targetSignInRatio, r.SignIn, r.Bcrypt))
		row("3r", fmt.Sprintf("raw bcrypt compare, cost %d, %d goroutines in authbench, server idle", o.Cost, r.GOMAXPROCS), r.Bcrypt,
			"reference", "—", "—")
	}
	if c := r.Commands; c != nil {
		row("4", "Redis commands per request of (2), idle timeout on", nil,
			fmt.Sprintf("%.3f reads, %.3f writes, %.3f other (%s)", c.Reads, c.Writes, c.Other, c.Breakdown()),
			fmt.Sprintf("≤ %g read, ≤ %g writes", targetReads, targetWrites),
			verdict(c.Reads <= targetReads && c.Writes <= targetWrites))
	}
	if m := r.Memory; m != nil {
		row("5", fmt.Sprintf("Redis memory per session, %s sessions of %s users", count(m.Sessions), count(m.Users)), nil,
			fmt.Sprintf("%.0f B/session", m.PerSession()), fmt.Sprintf("≤ %d B", targetBytes), verdict(m.PerSession() <= targetBytes))
	}
	if r.Calm != nil {
		row("6c", fmt.Sprintf("protected page, calm, %s req/s open loop", num(o.ProbeRate)), r.Calm, "reference", "—", "—")
	}
	if r.Flood != nil {
		ratio := float64(r.Flood.P(99)) / float64(r.Calm.P(99))
		row("6f", fmt.Sprintf("the same during a wrong-password flood (%d clients, %s attempts/s)", o.FloodWorkers, num(r.FloodRate)), r.Flood,
			fmt.Sprintf("p99 %.1f × calm", ratio), fmt.Sprintf("p99 ≤ %g × calm", targetFloodP99), judged(ratio <= targetFloodP99, r.Calm, r.Flood))
	}

	if r.NginxPlain != nil {
		row("7u", "app through nginx, no authentication", r.NginxPlain, "baseline", "—", "—")
		ratio := r.NginxProtected.Rate() / r.NginxPlain.Rate()
		row("7p", fmt.Sprintf("the same app behind auth_request → authd /auth/request, over %s sessions", count(o.Sessions)), r.NginxProtected,
			fmt.Sprintf("%.2f × (7u); p99 %.1f × (7u)", ratio, float64(r.NginxProtected.P(99))/float64(r.NginxPlain.P(99))),
			fmt.Sprintf("≥ %.1f × (7u)", targetNginxRatio), judged(ratio >= targetNginxRatio, r.NginxPlain, r.NginxProtected))
	}
	if c := r.NginxCommands; c != nil {
		row("7c", "Redis commands per request of (7p)", nil,
			fmt.Sprintf("%.3f reads, %.3f writes, %.3f other (%s)", c.Reads, c.Writes, c.Other, c.Breakdown()),
			fmt.Sprintf("≤ %g read, ≤ %g writes", targetReads, targetWrites), verdict(c.Reads <= targetReads && c.Writes <= targetWrites))
	}
	if r.Verify != nil {
		c := r.VerifyCommands
		row("8", fmt.Sprintf("verify alone, GET /auth/request over %s sessions inside their refresh interval", count(o.Sessions)), r.Verify,
			fmt.Sprintf("Redis per verify: %.3f reads, %.3f writes (%s)", c.Reads, c.Writes, c.Breakdown()),
			fmt.Sprintf("≤ %g read, no write", targetReads), verdict(c.Reads <= targetReads && c.Writes == 0))
	}

	r.writePeer(w, row)
	if r.PasswordGrant != nil {
		ratio := r.PasswordGrant.Rate() / r.GrantBcrypt.Rate()
		row("10", fmt.Sprintf("password grant, POST /oauth/token, %d clients", o.SignInWorkers), r.PasswordGrant,
			fmt.Sprintf("%.2f × raw bcrypt", ratio), fmt.Sprintf("≥ %.1f × raw bcrypt", targetSignInRatio), judged(ratio >= targetSignInRatio, r.PasswordGrant, r.GrantBcrypt))
		row("10r", fmt.Sprintf("raw bcrypt compare, cost %d, %d goroutines in authbench, server idle", o.Cost, r.GOMAXPROCS), r.GrantBcrypt, "reference", "—", "—")
	}
	if r.Refresh != nil {
		c := r.RefreshCommands
		row("11", fmt.Sprintf("refresh grant, POST /oauth/token, %d clients, one family each", o.Workers), r.Refresh,
			fmt.Sprintf("Redis per refresh: %.3f reads, %.3f writes, %.3f other (%s); one token session %d B (MEMORY USAGE of record and family)",
				c.Reads, c.Writes, c.Other, c.Breakdown(), r.TokenSessionBytes), "—", "—")
	}
	if r.MeCookie != nil {
		row("12c", fmt.Sprintf("GET /api/me with a session cookie, %d clients", o.Workers), r.MeCookie, "reference", "—", "—")
		row("12j", fmt.Sprintf("GET /api/me with an access JWT (ES256 verify + sid read), %d clients", o.Workers), r.MeJWT,
			fmt.Sprintf("%.2f × (12c)", r.MeJWT.Rate()/r.MeCookie.Rate()), "—", "—")
	}

	r.writeCPU(w)
	r.writeNotes(w)
}

// writePeer prints scenario 9's rows: the peer's figures, each against
// authd's of the same run.
func (r *Report) writePeer(w io.Writer, row func(n, name string, m *Measured, figure, target, result string)) {
	if r.Peer == nil {
		return
	}
	fig, res := "—", "—"
	if r.Protected != nil {
		ratio := r.Protected.Rate() / r.Peer.Rate()
		fig = fmt.Sprintf("authd (2) = %.2f × (9); p99 %s vs %s", ratio, dur(r.Protected.P(99)), dur(r.Peer.P(99)))
		res = judged(ratio >= targetPeerRatio, r.Protected, r.Peer)
	}
	row("9", fmt.Sprintf("peer: chi + scs.LoadAndSave + scs/redisstore, GET /api/me over %s sessions", count(r.Opts.Sessions)), r.Peer,
		fig, fmt.Sprintf("authd ≥ %.1f × (9)", targetPeerRatio), res)
	if c := r.PeerCommands; c != nil {
		fig, res := fmt.Sprintf("%.3f reads, %.3f writes, %.3f other (%s)", c.Reads, c.Writes, c.Other, c.Breakdown()), "—"
		if a := r.Commands; a != nil {
			fewer := c.Writes / max(a.Writes, 1e-9)
			fig += fmt.Sprintf("; authd (4) writes 1/%.0f as often", fewer)
			res = verdict(fewer >= targetPeerWrites)
		}
		row("9c", "Redis commands per request of (9)", nil, fig, fmt.Sprintf("authd writes ≤ 1/%g of (9)", targetPeerWrites), res)
	}
	if m := r.PeerMemory; m != nil {
		fig, res := fmt.Sprintf("%.0f B/session", m.PerSession()), "—"
		if a := r.Memory; a != nil {
			fig += fmt.Sprintf("; authd (5) %.0f B = %.2f × (9m)", a.PerSession(), a.PerSession()/m.PerSession())
			res = verdict(a.PerSession() <= m.PerSession())
		}
		row("9m", fmt.Sprintf("peer: Redis memory per session, %s sessions of as many users (no per-user index)", count(m.Sessions)), nil,
			fig, "authd (5) ≤ (9m)", res)
	}
}

// writeCPU prints how busy each process kept the CPUs in each window.
func (r *Report) writeCPU(w io.Writer) {
	fmt.Fprintf(w, "\nCPU use over each measured window, in CPUs busy (of %d); \"others\" is every other process on the machine, which should be near zero; CPU per op is that of authd, redis-server, authbench and nginx together:\n\n", r.NumCPU)
	fmt.Fprintln(w, "| # | authd | redis-server | authbench | nginx | others | steal | CPU per op |")
	fmt.Fprintln(w, "|---|--:|--:|--:|--:|--:|--:|--:|")
	for _, x := range []struct {
		n string
		m *Measured
	}{{"1", r.Public}, {"2", r.Protected}, {"3", r.SignIn}, {"3r", r.Bcrypt}, {"6c", r.Calm}, {"6f", r.Flood},
		{"7u", r.NginxPlain}, {"7p", r.NginxProtected}, {"8", r.Verify}, {"9", r.Peer},
		{"10", r.PasswordGrant}, {"10r", r.GrantBcrypt}, {"11", r.Refresh}, {"12c", r.MeCookie}, {"12j", r.MeJWT}} {
		if x.m == nil {
			continue
		}
		s := x.m.Elapsed.Seconds()
		c := x.m.CPU
		perOp := time.Duration(0)
		if x.m.Count > 0 {
			perOp = c.Sum() / time.Duration(x.m.Count)
		}
		fmt.Fprintf(w, "| %s | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %s |\n", x.n,
			c.Authd.Seconds()/s, c.Redis.Seconds()/s, c.Self.Seconds()/s, c.Nginx.Seconds()/s, c.Others().Seconds()/s, c.Steal.Seconds()/s, dur(perOp))
	}
}

// writeNotes prints the facts needed to read each figure.
func (r *Report) writeNotes(w io.Writer) {
	var notes []string
	var busiest time.Duration
	var share float64
	for _, m := range []*Measured{r.Public, r.Protected, r.SignIn, r.Bcrypt, r.Calm, r.Flood, r.NginxPlain, r.NginxProtected, r.Verify, r.Peer} {
		if m != nil && m.Elapsed > 0 {
			if f := m.CPU.Others().Seconds() / m.Elapsed.Seconds(); f > share {
				share, busiest = f, m.Elapsed
			}
		}
	}
	if share > 0.1 {
		notes = append(notes, fmt.Sprintf("**Other processes used up to %.2f CPUs during a %s window** (the \"others\" column): the machine was not quiet, and the figures above are lower, and their ratios noisier, than they would be; a verdict whose windows lost more than %.2f CPUs says \"busy machine\". Rerun when it is idle.", share, busiest.Round(time.Millisecond), busyShare))
	}
	perOp := func(d time.Duration, m *Measured) string {
		return dur(d / time.Duration(max(m.Count, 1)))
	}
	if r.Public != nil && r.Protected != nil {
		a, b := r.Public, r.Protected
		server := func(m *Measured) float64 { return (m.CPU.Authd + m.CPU.Redis).Seconds() / float64(max(m.Count, 1)) }
		notes = append(notes, fmt.Sprintf("(2) vs (1): CPU per request %s → %s (authd %s → %s, redis-server %s → %s, authbench %s → %s). When the CPUs are the limit, requests per second go as the inverse of CPU per request; authd and redis-server alone give %.2f.",
			perOp(a.CPU.Sum(), a), perOp(b.CPU.Sum(), b), perOp(a.CPU.Authd, a), perOp(b.CPU.Authd, b),
			perOp(a.CPU.Redis, a), perOp(b.CPU.Redis, b), perOp(a.CPU.Self, a), perOp(b.CPU.Self, b), server(a)/server(b)))
	}
	if r.Commands != nil {
		if r.Opts.AgeSessions {
			expect := math.Min(1, float64(r.Opts.Sessions)/(r.Protected.Rate()*r.RefreshInterval.Seconds()))
			notes = append(notes, fmt.Sprintf("(4): the sessions' last refresh was spread over the past %s, as in steady use, so refreshes fall due during the run as they would in production. Each session is written at most once per refresh interval, so this access pattern should give %s sessions ÷ (%s req/s × %s) = %.3f writes per request; the rate per session, not the code, sets the figure.",
				r.RefreshInterval, count(r.Opts.Sessions), num(r.Protected.Rate()), r.RefreshInterval, expect))
		} else {
			notes = append(notes, "(4): -age-sessions=false: every session was minted just now, so no refresh falls due and writes read lower than in steady use.")
		}
	}
	if r.SignIn != nil {
		notes = append(notes, fmt.Sprintf("(3): authd CPU per sign-in %s; raw compare CPU per op %s.",
			perOp(r.SignIn.CPU.Authd, r.SignIn), perOp(r.Bcrypt.CPU.Self, r.Bcrypt)))
	}
	if r.Calm != nil && r.Flood != nil {
		notes = append(notes, fmt.Sprintf("(6): of those latencies, the generator's own lag (scheduled start → request sent) had p99 %s calm and %s under the flood; authd used %.2f CPUs during the flood windows.",
			dur(Percentile(r.Calm.Lags, 99)), dur(Percentile(r.Flood.Lags, 99)), r.Flood.CPU.Authd.Seconds()/r.Flood.Elapsed.Seconds()))
	}
	if a, b := r.NginxPlain, r.NginxProtected; a != nil && b != nil {
		notes = append(notes, fmt.Sprintf("(7): CPU per request %s → %s (nginx %s → %s, authd %s → %s, redis-server %s → %s, authbench %s → %s, which also serves the app). nginx keeps connections to authd and the app alive (upstream keepalive); the protected side runs the README's auth_request directives under 3 access rules. (7c): as in (4), %s sessions refreshed once per %s at %s req/s should give %.3f writes per request.",
			perOp(a.CPU.Sum(), a), perOp(b.CPU.Sum(), b), perOp(a.CPU.Nginx, a), perOp(b.CPU.Nginx, b), perOp(a.CPU.Authd, a), perOp(b.CPU.Authd, b),
			perOp(a.CPU.Redis, a), perOp(b.CPU.Redis, b), perOp(a.CPU.Self, a), perOp(b.CPU.Self, b),
			count(r.Opts.Sessions), r.RefreshInterval, num(b.Rate()), math.Min(1, float64(r.Opts.Sessions)/(b.Rate()*r.RefreshInterval.Seconds()))))
	}
	if r.Verify != nil {
		notes = append(notes, fmt.Sprintf("(8): authd CPU per verify %s. Its sessions were minted just before the run, which is shorter than the refresh interval (%s), so a write would be a verify writing what it need not; (7c) shows the writes of sessions in steady use.",
			perOp(r.Verify.CPU.Authd, r.Verify), r.RefreshInterval))
	}
	if m := r.Memory; m != nil {
		notes = append(notes, fmt.Sprintf("(5): used_memory %s → %s B. One record: key %d B + value %d B; MEMORY USAGE (key, value, entry) %d B; the rest is the expiry entry and the hash tables' share. Minted at %s sessions/s.",
			count(m.Before), count(m.After), m.KeyBytes, m.ValueBytes, m.UsageBytes, num(m.MintRate)))
	}
	if a, b := r.Protected, r.Peer; a != nil && b != nil {
		notes = append(notes, fmt.Sprintf("(9): the peer is cmd/authbench/peer, run against the same redis-server with authd's pool settings, measured in two halves, right before (2) and right after; in the CPU table its process fills the authd column. CPU per request: authd %s, peer %s (server process); redis-server %s vs %s; server and Redis together give authd %.2f × the peer's requests per CPU-second, the fairer figure when other processes take CPUs. scs with an idle timeout rewrites the whole session (SET … PX) on every request.",
			perOp(a.CPU.Authd, a), perOp(b.CPU.Authd, b), perOp(a.CPU.Redis, a), perOp(b.CPU.Redis, b),
			((b.CPU.Authd+b.CPU.Redis).Seconds()/float64(max(b.Count, 1)))/((a.CPU.Authd+a.CPU.Redis).Seconds()/float64(max(a.Count, 1)))))
	}
	if len(notes) == 0 {
		return
	}
	fmt.Fprintln(w, "\nNotes:")
	fmt.Fprintln(w)
	for _, n := range notes {
		fmt.Fprintln(w, "- "+n)
	}
	fmt.Fprintln(w)
}

func verdict(ok bool) string {
	if ok {
		return "PASS"
	}
	return "**MISS**"
}

// busyShare is the CPU share (in CPUs) above which other processes are
// taken to have disturbed a measurement.
const busyShare = 0.25

// busy reports whether other processes used more than busyShare CPUs in
// any of the windows.
func busy(ms ...*Measured) bool {
	for _, m := range ms {
		if m != nil && m.Elapsed > 0 && m.CPU.Others().Seconds()/m.Elapsed.Seconds() > busyShare {
			return true
		}
	}
	return false
}

// judged is verdict(ok), flagged when the windows it compares were
// disturbed by other processes: such a verdict may be wrong either way.
func judged(ok bool, windows ...*Measured) string {
	if busy(windows...) {
		return verdict(ok) + " (busy machine)"
	}
	return verdict(ok)
}

// num formats a rate: one decimal under 100, else a whole number with
// thousands separators.
func num(f float64) string {
	if f < 100 {
		return strconv.FormatFloat(f, 'f', 1, 64)
	}
	return count(int64(math.Round(f)))
}

// count formats a whole number with thousands separators.
func count[T int | int64](n T) string {
	s := strconv.FormatInt(int64(n), 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// dur formats a latency with three significant digits in µs, ms or s.
func dur(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond))
	case d < time.Second:
		return sig3(float64(d)/float64(time.Millisecond)) + " ms"
	}
	return sig3(d.Seconds()) + " s"
}

// sig3 formats f (at least 1) with three significant digits: 1.23, 12.3, 123.
func sig3(f float64) string {
	switch {
	case f < 10:
		return strconv.FormatFloat(f, 'f', 2, 64)
	case f < 100:
		return strconv.FormatFloat(f, 'f', 1, 64)
	}
	return strconv.FormatFloat(f, 'f', 0, 64)
}
