package server

import (
	"bytes"
	"context"
	"database/sql"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"

	"github.com/sessionauth/authd/internal/activity"
	"github.com/sessionauth/authd/internal/clientip"
	"github.com/sessionauth/authd/internal/database"
	"github.com/sessionauth/authd/internal/device"
	"github.com/sessionauth/authd/internal/emailtoken"
	"github.com/sessionauth/authd/internal/forwardauth"
	"github.com/sessionauth/authd/internal/group"
	"github.com/sessionauth/authd/internal/mail"
	"github.com/sessionauth/authd/internal/metrics"
	"github.com/sessionauth/authd/internal/mfa"
	"github.com/sessionauth/authd/internal/notice"
	"github.com/sessionauth/authd/internal/password"
	"github.com/sessionauth/authd/internal/pwnlist"
	"github.com/sessionauth/authd/internal/redispool"
	"github.com/sessionauth/authd/internal/secret"
	"github.com/sessionauth/authd/internal/session"
	"github.com/sessionauth/authd/internal/testenv"
	"github.com/sessionauth/authd/internal/throttle"
	"github.com/sessionauth/authd/internal/token"
	"github.com/sessionauth/authd/internal/user"
)

// testServer is the real handler over a real redis-server (started for the
// test on its own port) and a real SQLite file.
type testServer struct {
	*httptest.Server
	redis   *testenv.Redis
	pool    *redis.Pool
	db      *sql.DB
	users   *user.Store
	hasher  *password.Hasher
	logs    *syncBuffer
	prefix  string
	opts    testOptions
	metrics *metrics.Metrics
	// Mail: the outbox and what composes its jobs (no worker unless a
	// test starts one with startMail).
	outbox  *mail.Outbox
	mailer  *notice.Mailer
	tokens  *emailtoken.Store
	srv     *Server
	issuer  *token.Issuer
	devices *device.Tokens
	guard   *forwardauth.Guard // forward auth's rules: ts.guard.SetRules
	mfa     *mfa.Store
}

type testOptions struct {
	session session.Config
	// cost is the bcrypt cost; 0 (the default) means password.NewTestHasher,
	// for the tests in which the cost is not what is tested.
	cost int
	// lowPriority runs the hashing workers at nice 19, as authd serve does.
	lowPriority bool
	signup      bool
	maxBody     int64
	redisArg    []string
	limits      Limits
	hsts        int
	proxies     []string
	// notices turns the optional notices on or off (all on by default);
	// rangeURL enables the HIBP range check; now is the tokens' clock.
	notices  *notice.Config
	rangeURL string
	now      func() time.Time
	// hstsSubdomains and hstsPreload add those HSTS directives.
	hstsSubdomains, hstsPreload bool
	// keys is the master key; nil means a new one per server (siblings
	// share their first's).
	keys    *secret.Keys
	forward forwardauth.Config
	// clock is the clock of TOTP and step-up; nil means time.Now.
	clock func() time.Time
	// OAuth: services /api/token mints for, resource servers, CORS
	// origins, and the access tokens' clock (nil: time.Now).
	audiences       []string
	resourceServers []ResourceServer
	corsOrigins     []string
	tokenNow        func() time.Time
}

func newTestServer(t testing.TB, opts ...func(*testOptions)) *testServer {
	t.Helper()
	o := testOptions{
		session: session.Config{Lifetime: time.Hour, IdleTimeout: 10 * time.Minute, RefreshInterval: time.Minute, RememberLifetime: 24 * time.Hour, RememberIdleTimeout: 2 * time.Hour},
		signup:  true,
	}
	for _, f := range opts {
		f(&o)
	}
	ts := &testServer{redis: testenv.StartRedis(t, o.redisArg...), logs: &syncBuffer{}, prefix: "test:session:"}
	ts.pool = ts.redis.Pool(t)
	o.session.KeyPrefix = ts.prefix

	ctx := context.Background()
	db, dialect, err := database.Open(ctx, testenv.SQLiteURL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := database.Migrate(ctx, db, dialect); err != nil {
		t.Fatal(err)
	}
	ts.db, ts.users = db, user.NewStore(db)

	if o.keys == nil {
		o.keys = secret.Generate()
	}
	ts.opts = o
	ts.metrics = metrics.New()
	ts.metrics.RegisterPool(redispool.Single(ts.pool))
	ts.start(t)
	return ts
}

// sibling is a second server instance sharing the first one's Redis and
// database, as two processes behind a load balancer would: its own
// connection pool, session manager, hasher and handler; opts change its
// options from the first one's.
func (ts *testServer) sibling(t testing.TB, opts ...func(*testOptions)) *testServer {
	t.Helper()
	o := ts.opts
	for _, f := range opts {
		f(&o)
	}
	sib := &testServer{redis: ts.redis, db: ts.db, users: ts.users, logs: &syncBuffer{}, prefix: ts.prefix, opts: o}
	sib.pool = ts.redis.Pool(t)
	sib.metrics = metrics.New()
	sib.start(t)
	return sib
}

// start builds the handler from ts's dependencies and serves it.
func (ts *testServer) start(t testing.TB) {
	t.Helper()
	o := ts.opts
	log := slog.New(slog.NewTextHandler(ts.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var err error
	// One P stays free of hashing workers: the test process does not raise
	// GOMAXPROCS for them as authd serve does.
	if o.cost == 0 {
		ts.hasher, err = password.NewTestHasher()
	} else {
		// At the test's own priority unless the priority is under test: at
		// nice 19 other processes on a busy machine starve the workers, and
		// a sign-in runs out of its time.
		ts.hasher, err = password.NewHasherPriority(o.cost, max(1, runtime.GOMAXPROCS(0)-1), o.lowPriority)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ts.hasher.Close)
	clients, err := clientip.New(o.proxies)
	if err != nil {
		t.Fatal(err)
	}
	o.session.ClientAddr = clients.Addr
	sessions, err := session.NewManager(redispool.Single(ts.pool), o.session, log)
	if err != nil {
		t.Fatal(err)
	}
	ts.outbox = mail.NewOutbox(ts.db, 100000, nil)
	ts.tokens = emailtoken.NewStore(ts.db, o.now)
	ncfg := notice.Config{NewDevice: true, PasswordChange: true, FactorChange: true}
	if o.notices != nil {
		ncfg = *o.notices
	}
	ncfg.Outbox, ncfg.Users, ncfg.Tokens, ncfg.PublicURL = ts.outbox, ts.users, ts.tokens, testPublicURL
	if ts.mailer, err = notice.New(ncfg); err != nil {
		t.Fatal(err)
	}
	ts.devices, err = device.New(device.Config{Key: o.keys.Derive(device.Purpose), Lifetime: 24 * time.Hour, Secure: o.session.CookieSecure})
	if err != nil {
		t.Fatal(err)
	}
	if ts.guard, err = forwardauth.New(o.forward, group.NewStore(ts.db)); err != nil {
		t.Fatal(err)
	}
	ts.mfa = mfa.NewStore(ts.db, o.keys, "authd test", o.clock)
	keyStore, err := token.NewKeyStore(ts.db, o.keys)
	if err != nil {
		t.Fatal(err)
	}
	if ts.issuer, err = token.New(context.Background(), keyStore, token.Config{Issuer: testPublicURL, Now: o.tokenNow}); err != nil {
		t.Fatal(err)
	}
	h, err := New(Config{
		MFA: ts.mfa, Now: o.clock, Challenges: mfa.NewChallenges(redispool.Single(ts.pool), ts.prefix+"webauthn:", 0),
		AccessTokens: ts.issuer, TokenAudiences: o.audiences, ResourceServers: o.resourceServers, CORSOrigins: o.corsOrigins,
		Mail: ts.mailer, Tokens: ts.tokens, Passwords: pwnlist.New(pwnlist.Options{RangeURL: o.rangeURL, Log: log}),
		Log: log, Users: ts.users, Sessions: sessions, Hasher: ts.hasher,
		Activity:   activity.NewStore(ts.db, time.Hour, 100),
		Throttle:   throttle.New(redispool.Single(ts.pool), ts.prefix+"throttle:"),
		Limits:     o.limits,
		HSTSMaxAge: o.hsts,
		Metrics:    ts.metrics,
		ClientAddr: clients.Addr,
		DB:         ts.db, Redis: redispool.Single(ts.pool), SignupEnabled: o.signup, MaxBodyBytes: o.maxBody,
		Devices:               ts.devices,
		HSTSIncludeSubdomains: o.hstsSubdomains,
		HSTSPreload:           o.hstsPreload,
		Forward:               ts.guard,
	})
	if err != nil {
		t.Fatal(err)
	}
	ts.srv = h
	t.Cleanup(func() {
		if err := h.Close(context.Background()); err != nil {
			t.Errorf("closing the server: %v", err)
		}
	})
	ts.Server = httptest.NewServer(h)
	t.Cleanup(ts.Close)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log:\n%s", ts.logs.String())
		}
	})
}

// testPublicURL is PUBLIC_URL in tests: links must start with it, never
// with the Host a request came to.
const testPublicURL = "https://auth.example.test"

// startMail runs a mail worker for this instance that sends through the
// test SMTP server, retrying after a few milliseconds, until the test ends.
func (ts *testServer) startMail(t testing.TB, srv *testenv.SMTPServer) {
	t.Helper()
	sender, err := mail.NewSMTP(mail.SMTPConfig{Host: srv.Host, Port: srv.Port, TLS: mail.TLSNone,
		// Longer than any test stalls the server: a held message is then
		// delivered once, not timed out and sent again.
		Timeout: 5 * time.Minute, From: "authd <no-reply@auth.example.test>"})
	if err != nil {
		t.Fatal(err)
	}
	w := &mail.Worker{Outbox: ts.outbox, Sender: sender, Composer: ts.mailer,
		Log:     slog.New(slog.NewTextHandler(ts.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Backoff: func(int) time.Duration { return 20 * time.Millisecond }, Poll: 100 * time.Millisecond,
		Lease: 10 * time.Minute}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		srv.Release() // a stalled send would hold the worker
		<-done
	})
}

// flushActivity waits until the activity events queued so far are written.
func (ts *testServer) flushActivity(t testing.TB) {
	t.Helper()
	if err := ts.srv.events.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// client is a curl-like client with a cookie jar that does not follow redirects.
type client struct {
	t    testing.TB
	base string
	http *http.Client
}

func (ts *testServer) client(t testing.TB) *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: t, base: ts.URL, http: &http.Client{
		Jar:           jar,
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// do sends a request; header pairs follow the body ("Accept", "application/json").
func (c *client) do(method, path string, body io.Reader, header ...string) *http.Response {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	c.t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func (c *client) get(path string, header ...string) *http.Response {
	c.t.Helper()
	return c.do(http.MethodGet, path, nil, header...)
}

func (c *client) postForm(path string, form url.Values, header ...string) *http.Response {
	c.t.Helper()
	return c.do(http.MethodPost, path, strings.NewReader(form.Encode()),
		append([]string{"Content-Type", "application/x-www-form-urlencoded"}, header...)...)
}

func (c *client) login(name, pw string, header ...string) *http.Response {
	c.t.Helper()
	return c.postForm("/login", url.Values{"username": {name}, "password": {pw}}, header...)
}

// sessionCookie returns the session_id cookie the jar holds, or "".
func (c *client) sessionCookie() string {
	u, _ := url.Parse(c.base)
	for _, ck := range c.http.Jar.Cookies(u) {
		if ck.Name == session.CookieName {
			return ck.Value
		}
	}
	return ""
}

// setCookie replaces the jar's session cookie, as a replaying attacker would.
func (c *client) setCookie(value string) {
	u, _ := url.Parse(c.base)
	c.http.Jar.SetCookies(u, []*http.Cookie{{Name: session.CookieName, Value: value, Path: "/"}})
}

// addUser creates a user directly in the store.
func (ts *testServer) addUser(t testing.TB, name, pw string) user.User {
	t.Helper()
	h, err := ts.hasher.Hash(context.Background(), pw)
	if err != nil {
		t.Fatal(err)
	}
	u, err := ts.users.Create(context.Background(), name, h)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// signedIn returns a client signed in as a new user.
func (ts *testServer) signedIn(t testing.TB, name, pw string) *client {
	t.Helper()
	ts.addUser(t, name, pw)
	c := ts.client(t)
	if resp := c.login(name, pw); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign in %s: status %d, want 303", name, resp.StatusCode)
	}
	return c
}

// sessionKeys lists the session records in Redis: the keys under the
// prefix, without the per-user indexes, epochs and throttle counters (whose
// key suffixes contain a colon, which a hashed token never does).
func (ts *testServer) sessionKeys(t testing.TB) []string {
	t.Helper()
	var records []string
	for _, k := range ts.allKeys(t) {
		if !strings.Contains(strings.TrimPrefix(k, ts.prefix), ":") {
			records = append(records, k)
		}
	}
	return records
}

// allKeys lists every key the server wrote under its prefix.
func (ts *testServer) allKeys(t testing.TB) []string {
	t.Helper()
	keys, err := redis.Strings(ts.redis.Conn(t).Do("KEYS", ts.prefix+"*"))
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

func body(t testing.TB, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func wantStatus(t testing.TB, resp *http.Response, want int) {
	t.Helper()
	if resp.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d; body: %.300s", resp.Request.Method, resp.Request.URL.Path, resp.StatusCode, want, body(t, resp))
	}
}

// syncBuffer collects log output from concurrent handlers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
