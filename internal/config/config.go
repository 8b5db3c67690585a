// Package config reads the server's configuration from flags and the
// environment into one struct and validates it, with messages that say
// exactly what to fix.
package config

import (
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sessionauth/authd/internal/clientip"
	"github.com/sessionauth/authd/internal/forwardauth"
	"github.com/sessionauth/authd/internal/memredis"
	"github.com/sessionauth/authd/internal/password"
	"github.com/sessionauth/authd/internal/redispool"
	"github.com/sessionauth/authd/internal/secret"
)

// Config is every setting of the server. Flags override the environment,
// which overrides the defaults.
type Config struct {
	Addr            string
	MetricsAddr     string
	TLSCertFile     string
	TLSKeyFile      string
	CookieSecure    bool
	CookieDomain    string
	HSTSMaxAge      int
	TrustedOrigins  []string
	ShutdownTimeout time.Duration

	RedisURL       string
	RedisKeyPrefix string
	Redis          redispool.Options

	DatabaseURL string

	SessionLifetime        time.Duration
	SessionIdleTimeout     time.Duration
	SessionRefreshInterval time.Duration
	// SessionRememberLifetime and SessionRememberIdleTimeout apply to
	// "keep me signed in"; a zero lifetime hides the choice.
	SessionRememberLifetime    time.Duration
	SessionRememberIdleTimeout time.Duration
	SessionMaxPerUser          int

	BcryptCost      int
	HashConcurrency int
	// HashLowPriority runs bcrypt on threads of the lowest CPU priority.
	HashLowPriority bool
	SignupEnabled   bool
	MaxBodyBytes    int64
	TrustedProxies  []string

	ThrottleAccountFailures int
	ThrottleAddrFailures    int
	ThrottleSignups         int
	ThrottleWindow          time.Duration

	ActivityRetention time.Duration

	LogFormat string
	LogLevel  string

	// PublicURL is authd's address as users reach it: every link in mail
	// starts with it, and forward auth sends signed-out browsers to its
	// /login. Empty means http://Addr (for development only: it is
	// required with SMTPHost).
	PublicURL string
	// SMTP delivery; without SMTPHost, mail goes to the log or MailDir.
	SMTPHost     string
	SMTPPort     int
	SMTPTLS      string
	SMTPUsername string
	SMTPPassword string
	SMTPTimeout  time.Duration
	MailFrom     string
	MailDir      string
	MailQueueMax int
	MailMaxAge   time.Duration
	// Notices the operator may turn off.
	NotifyNewDevice      bool
	NotifyPasswordChange bool
	NotifyFactorChange   bool
	// Password-reset requests per account and address (silent), and per
	// client address (429), per ThrottleWindow.
	ThrottleResetRequests int
	ThrottleResetAddr     int
	// PwnedPasswordsURL enables the HIBP range check of new passwords.
	PwnedPasswordsURL string
	// SecretKey is the master key (base64); empty means one generated and
	// kept in the database.
	SecretKey string
	// CookieHostPrefix names the cookies __Host-session_id and
	// __Host-device_token, which browsers accept only Secure, host-only
	// and for Path=/.
	CookieHostPrefix bool
	// HSTSIncludeSubdomains and HSTSPreload add those HSTS directives.
	HSTSIncludeSubdomains bool
	HSTSPreload           bool
	// ThrottleDeviceFailures is the budget of a device token (failed
	// sign-ins) and of a signed-in session (wrong current passwords).
	ThrottleDeviceFailures int
	// DeviceTokenLifetime is how long a device token is honoured.
	DeviceTokenLifetime time.Duration
	// Forward authentication.
	AccessRulesFile string
	ReturnOrigins   []string
	GroupsRefresh   time.Duration
	IdentityHeaders forwardauth.Headers
	// Tokens for API and mobile clients (OAuth 2.0 token endpoint).
	TokenSessionIdleTimeout time.Duration
	TokenSessionLifetime    time.Duration
	RefreshGrace            time.Duration
	AccessTokenLifetime     time.Duration
	SigningKeyRotation      time.Duration
	// TokenAudiences are the services POST /api/token may mint a JWT for.
	TokenAudiences []string
	// ResourceServers may call introspection: "id:sha256-hex-of-secret".
	ResourceServers []string
	// CORSOrigins may call /oauth/* and /api/* from browser scripts.
	CORSOrigins []string
}

// PublicBase is PublicURL, or, when it is empty, this server's own address
// over plain HTTP (what make run serves).
func (c Config) PublicBase() string {
	if c.PublicURL != "" {
		return strings.TrimRight(c.PublicURL, "/")
	}
	host, port, err := net.SplitHostPort(c.Addr)
	if err != nil {
		return "http://localhost:8080"
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
	}
	scheme := "http"
	if c.TLS() {
		scheme = "https"
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}

// hstsDefault is HSTS_MAX_AGE when it is not set and authd serves TLS: two
// years, as hstspreload.org asks.
const hstsDefault = 63072000

// CookiePrefix is "__Host-" when CookieHostPrefix is set: the prefix of
// the session and device cookies' names.
func (c Config) CookiePrefix() string {
	if c.CookieHostPrefix {
		return "__Host-"
	}
	return ""
}

// TLS reports whether the server terminates TLS itself.
func (c Config) TLS() bool { return c.TLSCertFile != "" }

// DefaultRedisURL is the Redis used when REDIS_URL is not set.
const DefaultRedisURL = "redis://127.0.0.1:6379/0"

// setting describes one option: its flag, its environment variable, its
// default and its help text. The README's configuration table lists the same.
type setting struct {
	flag, env, def, help string
	set                  func(c *Config, v string) error
}

func settings() []setting {
	return []setting{
		{"addr", "LISTEN_ADDR", "localhost:8080", "address to listen on", str(func(c *Config) *string { return &c.Addr })},
		{"metrics-addr", "METRICS_ADDR", "", "serve Prometheus /metrics on this address of its own, e.g. 127.0.0.1:9090 (empty: no metrics)", str(func(c *Config) *string { return &c.MetricsAddr })},
		{"tls-cert", "TLS_CERT_FILE", "", "TLS certificate file; serve HTTPS when set", str(func(c *Config) *string { return &c.TLSCertFile })},
		{"tls-key", "TLS_KEY_FILE", "", "TLS private key file", str(func(c *Config) *string { return &c.TLSKeyFile })},
		{"cookie-secure", "COOKIE_SECURE", "false", "mark the cookie Secure (set when behind a TLS proxy; implied by -tls-cert)", boolean(func(c *Config) *bool { return &c.CookieSecure })},
		{"cookie-domain", "COOKIE_DOMAIN", "", "cookie Domain attribute; empty means this host only", str(func(c *Config) *string { return &c.CookieDomain })},
		{"hsts-max-age", "HSTS_MAX_AGE", "", "send Strict-Transport-Security with this max-age in seconds (empty: 63072000, two years, when serving TLS with -tls-cert, else off; 0: off)", hstsMaxAge},
		{"trusted-origins", "TRUSTED_ORIGINS", "", "comma-separated origins also allowed to POST (e.g. https://app.example.com)", list(func(c *Config) *[]string { return &c.TrustedOrigins })},
		{"shutdown-timeout", "SHUTDOWN_TIMEOUT", "15s", "how long shutdown waits for in-flight requests", duration(func(c *Config) *time.Duration { return &c.ShutdownTimeout })},
		{"redis-url", "REDIS_URL", DefaultRedisURL, "Redis URL: redis://[:password@]host:port/db, rediss:// for TLS, or memory:// for an embedded store that lives in this process (development only)", str(func(c *Config) *string { return &c.RedisURL })},
		{"redis-key-prefix", "REDIS_KEY_PREFIX", "authd:session:", "prefix of every session key in Redis", str(func(c *Config) *string { return &c.RedisKeyPrefix })},
		{"redis-max-active", "REDIS_MAX_ACTIVE", "64", "most Redis connections open at once", integer(func(c *Config) *int { return &c.Redis.MaxActive })},
		{"redis-max-idle", "REDIS_MAX_IDLE", "16", "idle Redis connections kept for reuse", integer(func(c *Config) *int { return &c.Redis.MaxIdle })},
		{"redis-connect-timeout", "REDIS_CONNECT_TIMEOUT", "2s", "Redis connect timeout", duration(func(c *Config) *time.Duration { return &c.Redis.ConnectTimeout })},
		{"redis-read-timeout", "REDIS_READ_TIMEOUT", "2s", "Redis read timeout per command", duration(func(c *Config) *time.Duration { return &c.Redis.ReadTimeout })},
		{"redis-write-timeout", "REDIS_WRITE_TIMEOUT", "2s", "Redis write timeout per command", duration(func(c *Config) *time.Duration { return &c.Redis.WriteTimeout })},
		{"redis-replica-ack-timeout", "REDIS_REPLICA_ACK_TIMEOUT", "500ms", "how long a sign-out, revocation or password change waits for a replica to acknowledge it (WAIT), so that a failover cannot bring the session back; a miss is logged and counted, the sign-out still succeeds (0: no wait)", duration(func(c *Config) *time.Duration { return &c.Redis.ReplicaAckTimeout })},
		{"redis-sentinel-addrs", "REDIS_SENTINEL_ADDRS", "", "comma-separated host:port of Redis Sentinels; when set, the master is found through them and REDIS_URL's host is ignored", list(func(c *Config) *[]string { return &c.Redis.SentinelAddrs })},
		{"redis-sentinel-master", "REDIS_SENTINEL_MASTER", "", "master name the sentinels monitor (required with REDIS_SENTINEL_ADDRS)", str(func(c *Config) *string { return &c.Redis.SentinelMaster })},
		{"redis-sentinel-password", "REDIS_SENTINEL_PASSWORD", "", "password of the sentinels (their requirepass), if any", str(func(c *Config) *string { return &c.Redis.SentinelPassword })},
		{"redis-cluster-addrs", "REDIS_CLUSTER_ADDRS", "", "comma-separated host:port of some Redis Cluster nodes; when set, sessions live in that cluster (the slot map is learnt from these nodes) and REDIS_URL gives only the password and TLS setting (a redis+cluster://h1:p1,h2:p2 URL does the same)", list(func(c *Config) *[]string { return &c.Redis.ClusterAddrs })},
		{"database-url", "DATABASE_URL", "sqlite:authd.db", "user database: sqlite:PATH or postgres://user@host/db", str(func(c *Config) *string { return &c.DatabaseURL })},
		{"session-lifetime", "SESSION_LIFETIME", "12h", "absolute session lifetime", duration(func(c *Config) *time.Duration { return &c.SessionLifetime })},
		{"session-idle-timeout", "SESSION_IDLE_TIMEOUT", "30m", "end sessions unused for this long", duration(func(c *Config) *time.Duration { return &c.SessionIdleTimeout })},
		{"session-refresh-interval", "SESSION_REFRESH_INTERVAL", "1m", "write session activity to Redis at most this often", duration(func(c *Config) *time.Duration { return &c.SessionRefreshInterval })},
		{"session-remember-lifetime", "SESSION_REMEMBER_LIFETIME", "720h", "absolute lifetime of a \"keep me signed in\" session (0: no such choice)", duration(func(c *Config) *time.Duration { return &c.SessionRememberLifetime })},
		{"session-remember-idle-timeout", "SESSION_REMEMBER_IDLE_TIMEOUT", "168h", "idle timeout of a \"keep me signed in\" session", duration(func(c *Config) *time.Duration { return &c.SessionRememberIdleTimeout })},
		{"session-max-per-user", "SESSION_MAX_PER_USER", "100", "most live sessions per user; a sign-in beyond it ends the oldest (0: no cap)", integer(func(c *Config) *int { return &c.SessionMaxPerUser })},
		{"throttle-account-failures", "THROTTLE_ACCOUNT_FAILURES", "10", "failed sign-ins per account per window before 429 (0: off)", integer(func(c *Config) *int { return &c.ThrottleAccountFailures })},
		{"throttle-addr-failures", "THROTTLE_ADDR_FAILURES", "100", "failed sign-ins per client address per window before 429 (0: off)", integer(func(c *Config) *int { return &c.ThrottleAddrFailures })},
		{"throttle-signups", "THROTTLE_SIGNUPS", "20", "sign-up attempts per client address per window before 429 (0: off)", integer(func(c *Config) *int { return &c.ThrottleSignups })},
		{"throttle-window", "THROTTLE_WINDOW", "15m", "how long throttling counts last, from the first attempt", duration(func(c *Config) *time.Duration { return &c.ThrottleWindow })},
		{"trusted-proxies", "TRUSTED_PROXIES", "", "comma-separated proxy addresses/CIDRs whose X-Forwarded-For is believed", list(func(c *Config) *[]string { return &c.TrustedProxies })},
		{"activity-retention", "ACTIVITY_RETENTION", "2160h", "how long account activity is kept (also at most 200 events per user)", duration(func(c *Config) *time.Duration { return &c.ActivityRetention })},
		{"bcrypt-cost", "BCRYPT_COST", strconv.Itoa(password.DefaultCost), "bcrypt cost for password hashes (10 to 31)", integer(func(c *Config) *int { return &c.BcryptCost })},
		{"hash-low-priority", "HASH_LOW_PRIORITY", "true", "run bcrypt on threads of the lowest CPU priority (nice 19), so that sign-ins yield to every other request; false: at the server's own priority, so that other busy processes cannot starve them", boolean(func(c *Config) *bool { return &c.HashLowPriority })},
		{"hash-concurrency", "HASH_CONCURRENCY", "0", "bcrypt computations at once, on low-priority threads; more wait (0: one per CPU)", integer(func(c *Config) *int { return &c.HashConcurrency })},
		{"signup", "SIGNUP_ENABLED", "true", "let visitors create accounts at /signup", boolean(func(c *Config) *bool { return &c.SignupEnabled })},
		{"max-body-bytes", "MAX_BODY_BYTES", "65536", "largest request body accepted", int64v(func(c *Config) *int64 { return &c.MaxBodyBytes })},
		{"log-format", "LOG_FORMAT", "text", "log format: text or json", str(func(c *Config) *string { return &c.LogFormat })},
		{"log-level", "LOG_LEVEL", "info", "log level: debug, info, warn or error", str(func(c *Config) *string { return &c.LogLevel })},
		{"public-url", "PUBLIC_URL", "", "authd's address as users reach it, e.g. https://auth.example.com: every link in mail starts with it, never with a request's Host, and forward auth sends signed-out browsers to its /login (required with SMTP_HOST; empty: http://LISTEN_ADDR)", str(func(c *Config) *string { return &c.PublicURL })},
		{"access-rules-file", "ACCESS_RULES_FILE", "", "YAML file of forward-auth access rules, reloaded on SIGHUP (empty: every signed-in user may reach every app)", str(func(c *Config) *string { return &c.AccessRulesFile })},
		{"return-origins", "RETURN_ORIGINS", "", "comma-separated origins (https://app.example.org, https://*.example.org) a sign-in may return to, besides PUBLIC_URL and COOKIE_DOMAIN with the hosts below it", list(func(c *Config) *[]string { return &c.ReturnOrigins })},
		{"groups-refresh-interval", "GROUPS_REFRESH_INTERVAL", "1m", "how long forward auth keeps a user's groups in memory; a change of groups applies within it (0: read on every request)", duration(func(c *Config) *time.Duration { return &c.GroupsRefresh })},
		{"user-header", "FORWARD_AUTH_USER_HEADER", forwardauth.DefaultHeaders.User, "forward-auth answer header with the user name", str(func(c *Config) *string { return &c.IdentityHeaders.User })},
		{"name-header", "FORWARD_AUTH_NAME_HEADER", forwardauth.DefaultHeaders.Name, "forward-auth answer header with the display name", str(func(c *Config) *string { return &c.IdentityHeaders.Name })},
		{"groups-header", "FORWARD_AUTH_GROUPS_HEADER", forwardauth.DefaultHeaders.Groups, "forward-auth answer header with the user's groups, comma-separated", str(func(c *Config) *string { return &c.IdentityHeaders.Groups })},
		{"session-header", "FORWARD_AUTH_SESSION_HEADER", forwardauth.DefaultHeaders.Session, "forward-auth answer header with the public session id", str(func(c *Config) *string { return &c.IdentityHeaders.Session })},
		{"smtp-host", "SMTP_HOST", "", "mail server for outgoing mail (empty: mails are written to the log, or to MAIL_DIR, for development)", str(func(c *Config) *string { return &c.SMTPHost })},
		{"smtp-port", "SMTP_PORT", "587", "mail server port (587 for starttls, 465 for tls)", integer(func(c *Config) *int { return &c.SMTPPort })},
		{"smtp-tls", "SMTP_TLS", "starttls", "starttls (required, never falls back to plain), tls (implicit TLS) or none (a relay on this host only)", str(func(c *Config) *string { return &c.SMTPTLS })},
		{"smtp-username", "SMTP_USERNAME", "", "SMTP AUTH user name (empty: no authentication)", str(func(c *Config) *string { return &c.SMTPUsername })},
		{"smtp-password", "SMTP_PASSWORD", "", "SMTP AUTH password", str(func(c *Config) *string { return &c.SMTPPassword })},
		{"smtp-timeout", "SMTP_TIMEOUT", "10s", "timeout of the connection and of each SMTP command", duration(func(c *Config) *time.Duration { return &c.SMTPTimeout })},
		{"mail-from", "MAIL_FROM", "authd <authd@localhost>", "sender of every mail", str(func(c *Config) *string { return &c.MailFrom })},
		{"mail-dir", "MAIL_DIR", "", "without SMTP_HOST, write each mail as a .eml file into this folder instead of the log", str(func(c *Config) *string { return &c.MailDir })},
		{"mail-queue-max", "MAIL_QUEUE_MAX", "10000", "most mails waiting in the outbox (a table in the database); more are dropped with an error line", integer(func(c *Config) *int { return &c.MailQueueMax })},
		{"mail-max-age", "MAIL_MAX_AGE", "24h", "how long an undelivered mail is retried before it is dropped with an error line", duration(func(c *Config) *time.Duration { return &c.MailMaxAge })},
		{"notify-new-device", "NOTIFY_NEW_DEVICE", "true", "mail the user on a sign-in from a device (browser, system, address family) not seen recently", boolean(func(c *Config) *bool { return &c.NotifyNewDevice })},
		{"notify-password-change", "NOTIFY_PASSWORD_CHANGE", "true", "mail the user when their password is changed (a reset is always told)", boolean(func(c *Config) *bool { return &c.NotifyPasswordChange })},
		{"notify-factor-change", "NOTIFY_FACTOR_CHANGE", "true", "mail the user when a second factor is added or removed", boolean(func(c *Config) *bool { return &c.NotifyFactorChange })},
		{"throttle-reset-requests", "THROTTLE_RESET_REQUESTS", "3", "password-reset mails per account and per address per window; more requests are answered as usual but send nothing (0: off)", integer(func(c *Config) *int { return &c.ThrottleResetRequests })},
		{"throttle-reset-addr", "THROTTLE_RESET_ADDR", "20", "password-reset requests per client address per window before 429 (0: off)", integer(func(c *Config) *int { return &c.ThrottleResetAddr })},
		{"pwned-passwords-url", "PWNED_PASSWORDS_URL", "", "also refuse new passwords known to this Have I Been Pwned range API, e.g. https://api.pwnedpasswords.com/range/ (empty: off; fails open)", str(func(c *Config) *string { return &c.PwnedPasswordsURL })},
		{"secret-key", "SECRET_KEY", "", "master key, base64 of at least 32 random bytes (openssl rand -base64 32); the same on every instance; empty: generate one and keep it in the database", str(func(c *Config) *string { return &c.SecretKey })},
		{"cookie-host-prefix", "COOKIE_HOST_PREFIX", "false", "name the cookies __Host-session_id and __Host-device_token, so that no subdomain can set them (needs a Secure cookie; not with COOKIE_DOMAIN)", boolean(func(c *Config) *bool { return &c.CookieHostPrefix })},
		{"hsts-include-subdomains", "HSTS_INCLUDE_SUBDOMAINS", "false", "add includeSubDomains to Strict-Transport-Security: every subdomain must then serve HTTPS", boolean(func(c *Config) *bool { return &c.HSTSIncludeSubdomains })},
		{"hsts-preload", "HSTS_PRELOAD", "false", "add preload to Strict-Transport-Security (needs HSTS_INCLUDE_SUBDOMAINS and a max-age of at least a year)", boolean(func(c *Config) *bool { return &c.HSTSPreload })},
		{"throttle-device-failures", "THROTTLE_DEVICE_FAILURES", "10", "failed sign-ins per device token, and wrong current passwords per signed-in session, per window before 429 (0: no budgets of their own: they count per account and address like everyone)", integer(func(c *Config) *int { return &c.ThrottleDeviceFailures })},
		{"token-session-idle-timeout", "TOKEN_SESSION_IDLE_TIMEOUT", "720h", "end an API client's token session (OAuth refresh-token family) unused for this long", duration(func(c *Config) *time.Duration { return &c.TokenSessionIdleTimeout })},
		{"token-session-lifetime", "TOKEN_SESSION_LIFETIME", "2160h", "absolute lifetime of an API client's token session", duration(func(c *Config) *time.Duration { return &c.TokenSessionLifetime })},
		{"refresh-grace", "REFRESH_GRACE", "10s", "how long a just-rotated refresh token still returns the current tokens instead of ending its session as a reuse", duration(func(c *Config) *time.Duration { return &c.RefreshGrace })},
		{"access-token-lifetime", "ACCESS_TOKEN_LIFETIME", "5m", "lifetime of access tokens (JWTs); third parties verifying them offline accept them this long after a revocation", duration(func(c *Config) *time.Duration { return &c.AccessTokenLifetime })},
		{"signing-key-rotation", "SIGNING_KEY_ROTATION", "720h", "add a new JWT signing key when the current one is this old (0: only by authd token keys rotate)", duration(func(c *Config) *time.Duration { return &c.SigningKeyRotation })},
		{"token-audiences", "TOKEN_AUDIENCES", "", "comma-separated services (aud values, e.g. https://api.example.com) a signed-in session may get a JWT for at POST /api/token", list(func(c *Config) *[]string { return &c.TokenAudiences })},
		{"resource-servers", "RESOURCE_SERVERS", "", "comma-separated id:sha256-hex-of-secret of services allowed to call /oauth/introspect (make one with: authd token client-secret)", list(func(c *Config) *[]string { return &c.ResourceServers })},
		{"cors-origins", "CORS_ORIGINS", "", "comma-separated origins whose scripts may call /oauth/* and /api/* (also trusted for POSTs)", list(func(c *Config) *[]string { return &c.CORSOrigins })},
		{"device-token-lifetime", "DEVICE_TOKEN_LIFETIME", "2160h", "how long a device token (given at each sign-in) marks the device as one that signed in before", duration(func(c *Config) *time.Duration { return &c.DeviceTokenLifetime })},
	}
}

// hstsMaxAge reads HSTS_MAX_AGE; empty means the default, decided once
// the TLS settings are known (-1 until then).
func hstsMaxAge(c *Config, v string) error {
	if v == "" {
		c.HSTSMaxAge = -1
		return nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return errors.New("not a whole number")
	}
	if n < 0 {
		return errors.New("must not be negative (0 turns HSTS off)")
	}
	c.HSTSMaxAge = n
	return nil
}

// Load fills a Config from the defaults, then getenv, then args (parsed as
// flags of fs), and validates the result.
func Load(fs *flag.FlagSet, args []string, getenv func(string) string) (Config, error) {
	var c Config
	envErrs := map[string]error{} // by flag name: a flag may override a bad value
	for _, s := range settings() {
		v := s.def
		if e := getenv(s.env); e != "" {
			v = e
		}
		if err := s.set(&c, v); err != nil {
			envErrs[s.flag] = fmt.Errorf("%s=%q: %w", s.env, v, err)
		}
		fs.Func(s.flag, fmt.Sprintf("%s (env %s, default %q)", s.help, s.env, s.def), func(v string) error {
			return s.set(&c, v)
		})
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	fs.Visit(func(f *flag.Flag) { delete(envErrs, f.Name) })
	if c.TLS() {
		c.CookieSecure = true
	}
	if c.HSTSMaxAge < 0 {
		c.HSTSMaxAge = 0
		if c.TLS() {
			c.HSTSMaxAge = hstsDefault
		}
	}
	// Report every problem at once, so one run shows all there is to fix.
	var errs []error
	for _, s := range settings() {
		if err := envErrs[s.flag]; err != nil {
			errs = append(errs, err)
		}
	}
	return c, errors.Join(append(errs, c.validate())...)
}

func (c Config) validate() error {
	var errs []error
	check := func(ok bool, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}
	check((c.TLSCertFile == "") == (c.TLSKeyFile == ""), "TLS_CERT_FILE and TLS_KEY_FILE must be set together")
	check(c.Redis.ReplicaAckTimeout >= 0 && (c.Redis.ReadTimeout <= 0 || c.Redis.ReplicaAckTimeout < c.Redis.ReadTimeout),
		"REDIS_REPLICA_ACK_TIMEOUT must not be negative, and shorter than REDIS_READ_TIMEOUT (WAIT blocks the connection that long)")
	sentinel := len(c.Redis.SentinelAddrs) > 0
	cluster := redispool.IsCluster(c.RedisURL, c.Redis.ClusterAddrs)
	check(!sentinel || !cluster, "REDIS_SENTINEL_ADDRS and a Redis Cluster (REDIS_CLUSTER_ADDRS or redis+cluster://) cannot be combined: a cluster fails over by itself")
	switch {
	case memredis.IsURL(c.RedisURL):
		check(!sentinel, "REDIS_URL=memory:// (the embedded store, for development) cannot be combined with REDIS_SENTINEL_ADDRS")
		check(len(c.Redis.ClusterAddrs) == 0, "REDIS_URL=memory:// (the embedded store, for development) cannot be combined with REDIS_CLUSTER_ADDRS")
	case memredis.IsMemoryScheme(c.RedisURL):
		check(false, "REDIS_URL=%q: the embedded store takes no host or path; write exactly memory://", c.RedisURL)
	default:
		check(redispool.CheckURL(c.RedisURL) == nil, "REDIS_URL: %v", redispool.CheckURL(c.RedisURL))
	}
	check(!sentinel || c.Redis.SentinelMaster != "", "REDIS_SENTINEL_MASTER is required when REDIS_SENTINEL_ADDRS is set")
	check(sentinel || c.Redis.SentinelMaster == "", "REDIS_SENTINEL_ADDRS is required when REDIS_SENTINEL_MASTER is set")
	check(sentinel || c.Redis.SentinelPassword == "", "REDIS_SENTINEL_PASSWORD is set but REDIS_SENTINEL_ADDRS is not")
	for _, a := range c.Redis.SentinelAddrs {
		check(redispool.CheckSentinelAddr(a) == nil, "REDIS_SENTINEL_ADDRS: %v", redispool.CheckSentinelAddr(a))
	}
	if len(c.Redis.ClusterAddrs) > 0 && !memredis.IsURL(c.RedisURL) {
		err := redispool.CheckCluster(c.RedisURL, c.Redis.ClusterAddrs)
		check(err == nil, "REDIS_CLUSTER_ADDRS: %v", err)
	}
	// Keys carry Redis Cluster hash tags after the prefix; a brace in it
	// would make its own tag and scatter one user's keys over slots.
	check(!strings.ContainsAny(c.RedisKeyPrefix, "{}"), "REDIS_KEY_PREFIX must not contain { or } (authd's keys carry their own Redis Cluster hash tags)")
	check(c.DatabaseURL != "", "DATABASE_URL must not be empty")
	check(c.SessionLifetime > 0, "SESSION_LIFETIME must be positive")
	check(c.SessionIdleTimeout > 0, "SESSION_IDLE_TIMEOUT must be positive")
	check(c.SessionRefreshInterval > 0 && c.SessionRefreshInterval < c.SessionIdleTimeout,
		"SESSION_REFRESH_INTERVAL must be positive and shorter than SESSION_IDLE_TIMEOUT")
	check(c.SessionRememberLifetime == 0 || c.SessionRememberLifetime >= c.SessionLifetime,
		"SESSION_REMEMBER_LIFETIME must be 0 or at least SESSION_LIFETIME")
	check(c.SessionRememberLifetime == 0 || (c.SessionRememberIdleTimeout > c.SessionRefreshInterval && c.SessionRememberIdleTimeout <= c.SessionRememberLifetime),
		"SESSION_REMEMBER_IDLE_TIMEOUT must be longer than SESSION_REFRESH_INTERVAL and at most SESSION_REMEMBER_LIFETIME")
	check(c.SessionMaxPerUser >= 0, "SESSION_MAX_PER_USER must not be negative")
	check(c.ThrottleAccountFailures >= 0 && c.ThrottleAddrFailures >= 0 && c.ThrottleSignups >= 0 && c.ThrottleDeviceFailures >= 0, "THROTTLE_* limits must not be negative")
	check(c.ThrottleWindow > 0, "THROTTLE_WINDOW must be positive")
	check(c.ActivityRetention > 0, "ACTIVITY_RETENTION must be positive")
	check(c.HashConcurrency >= 0 && c.HashConcurrency <= 256, "HASH_CONCURRENCY must be between 0 and 256")
	_, proxyErr := clientip.New(c.TrustedProxies)
	check(proxyErr == nil, "TRUSTED_PROXIES: %v", proxyErr)
	check(c.BcryptCost >= password.MinCost && c.BcryptCost <= 31, "BCRYPT_COST must be between %d and 31 (got %d)", password.MinCost, c.BcryptCost)
	check(c.MaxBodyBytes >= 1024, "MAX_BODY_BYTES must be at least 1024")
	check(c.HSTSMaxAge >= 0, "HSTS_MAX_AGE must not be negative")
	check(!c.HSTSIncludeSubdomains || c.HSTSMaxAge > 0, "HSTS_INCLUDE_SUBDOMAINS needs HSTS: set HSTS_MAX_AGE (it is on by default only when serving TLS with -tls-cert)")
	check(!c.HSTSPreload || (c.HSTSIncludeSubdomains && c.HSTSMaxAge >= 31536000),
		"HSTS_PRELOAD needs HSTS_INCLUDE_SUBDOMAINS=true and HSTS_MAX_AGE of at least 31536000 (one year), as browsers' preload lists require")
	if c.SecretKey != "" {
		_, err := secret.Parse(c.SecretKey)
		check(err == nil, "SECRET_KEY: %v", err)
	}
	check(!c.CookieHostPrefix || c.CookieDomain == "",
		"COOKIE_HOST_PREFIX cannot be combined with COOKIE_DOMAIN: a __Host- cookie has no Domain, so it is never sent to other subdomains; "+
			"choose COOKIE_DOMAIN for single sign-on across subdomains, or COOKIE_HOST_PREFIX so that no subdomain can plant a session cookie")
	check(!c.CookieHostPrefix || c.CookieSecure, "COOKIE_HOST_PREFIX needs a Secure cookie: serve TLS (-tls-cert) or set COOKIE_SECURE=true behind a TLS proxy")
	check(c.DeviceTokenLifetime > 0, "DEVICE_TOKEN_LIFETIME must be positive")
	check(c.TokenSessionIdleTimeout > 0 && c.TokenSessionIdleTimeout <= c.TokenSessionLifetime,
		"TOKEN_SESSION_IDLE_TIMEOUT must be positive and at most TOKEN_SESSION_LIFETIME")
	check(c.RefreshGrace > 0 && c.RefreshGrace <= time.Minute, "REFRESH_GRACE must be positive and at most 1m")
	check(c.AccessTokenLifetime >= 10*time.Second && c.AccessTokenLifetime <= time.Hour, "ACCESS_TOKEN_LIFETIME must be between 10s and 1h")
	check(c.SigningKeyRotation == 0 || c.SigningKeyRotation >= time.Hour, "SIGNING_KEY_ROTATION must be 0 or at least 1h")
	for _, rs := range c.ResourceServers {
		_, err := ParseResourceServer(rs)
		check(err == nil, "RESOURCE_SERVERS: %v", err)
	}
	check(c.ShutdownTimeout > 0, "SHUTDOWN_TIMEOUT must be positive")
	check(c.LogFormat == "text" || c.LogFormat == "json", "LOG_FORMAT must be text or json")
	check(slices.Contains([]string{"debug", "info", "warn", "error"}, c.LogLevel), "LOG_LEVEL must be debug, info, warn or error")
	check(c.Redis.MaxActive > 0 && c.Redis.MaxIdle > 0, "REDIS_MAX_ACTIVE and REDIS_MAX_IDLE must be positive")
	errs = append(errs, c.validateMail())
	if c.PublicURL != "" {
		_, err := forwardauth.CheckPublicURL(c.PublicURL)
		check(err == nil, "PUBLIC_URL: %v", err)
	}
	originsErr := forwardauth.CheckReturnOrigins(c.ReturnOrigins)
	check(originsErr == nil, "RETURN_ORIGINS: %v", originsErr)
	check(c.GroupsRefresh >= 0, "GROUPS_REFRESH_INTERVAL must not be negative")
	headersErr := forwardauth.CheckHeaders(c.IdentityHeaders)
	check(headersErr == nil, "FORWARD_AUTH_*_HEADER: %v", headersErr)
	return errors.Join(errs...)
}

func str(field func(*Config) *string) func(*Config, string) error {
	return func(c *Config, v string) error { *field(c) = v; return nil }
}

func list(field func(*Config) *[]string) func(*Config, string) error {
	return func(c *Config, v string) error {
		*field(c) = nil
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				*field(c) = append(*field(c), s)
			}
		}
		return nil
	}
}

func boolean(field func(*Config) *bool) func(*Config, string) error {
	return func(c *Config, v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return errors.New("not a boolean (use true or false)")
		}
		*field(c) = b
		return nil
	}
}

func integer(field func(*Config) *int) func(*Config, string) error {
	return func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil {
			return errors.New("not a whole number")
		}
		*field(c) = n
		return nil
	}
}

func int64v(field func(*Config) *int64) func(*Config, string) error {
	return func(c *Config, v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return errors.New("not a whole number")
		}
		*field(c) = n
		return nil
	}
}

func duration(field func(*Config) *time.Duration) func(*Config, string) error {
	return func(c *Config, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil {
			return errors.New("not a duration (e.g. 30m, 12h)")
		}
		*field(c) = d
		return nil
	}
}

// ResourceServer is a service allowed to call introspection.
type ResourceServer struct {
	ID string
	// SecretHash is the SHA-256 of its secret (hex): the secret itself is
	// never configured.
	SecretHash []byte
}

// ParseResourceServer reads "id:sha256-hex".
func ParseResourceServer(s string) (ResourceServer, error) {
	id, h, ok := strings.Cut(strings.TrimSpace(s), ":")
	sum, err := hex.DecodeString(h)
	if !ok || id == "" || len(id) > 64 || err != nil || len(sum) != 32 {
		return ResourceServer{}, fmt.Errorf("%q is not id:sha256-hex-of-secret (make one with: authd token client-secret)", s)
	}
	return ResourceServer{ID: id, SecretHash: sum}, nil
}
