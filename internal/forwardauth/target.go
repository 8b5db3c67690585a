package forwardauth

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/sessionauth/authd/internal/access"
)

// maxTargetLen bounds the URL a proxy may ask about (nginx's default large
// header buffer is 8k; a longer request line never reaches us from it).
const maxTargetLen = 8 << 10

// ErrBadTarget: the proxy's description of the original request is missing
// or malformed, or its path is ambiguous (dot segments, encoded slashes),
// so no rule can be applied to it safely.
var ErrBadTarget = errors.New("forwardauth: bad target")

// Target is the original request a proxy asks about.
type Target struct {
	Scheme string // "http" or "https"
	// Host is the host and port as the client named them, in lower case.
	Host string
	// RequestURI is the path and query exactly as the client sent them;
	// the return URL after sign-in is built from it.
	RequestURI string
	Method     string
	// Resource is what the access rules see: host without port, the path
	// decoded and normalised.
	Resource access.Resource
}

// URL is the original URL, for the return target after sign-in. Bytes that
// cannot appear in a URL as such (raw non-ASCII, quotes) are escaped.
func (t Target) URL() string {
	return t.Scheme + "://" + t.Host + escapeUnsafe(t.RequestURI)
}

// FromNginx reads the target of an nginx auth_request subrequest: the
// X-Original-URL and X-Original-Method headers that the documented snippet
// sets (the contract of Authelia's and oauth2-proxy's nginx snippets). Both
// are required, so that a configuration that forgets one fails for every
// request instead of letting a client's own copy through.
func FromNginx(r *http.Request) (Target, error) {
	raw := r.Header.Get("X-Original-URL")
	if raw == "" {
		return Target{}, fmt.Errorf("%w: no X-Original-URL header", ErrBadTarget)
	}
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return Target{}, fmt.Errorf("%w: X-Original-URL is not an absolute URL", ErrBadTarget)
	}
	host, uri := rest, "/"
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		host, uri = rest[:i], rest[i:]
	}
	return newTarget(scheme, host, uri, r.Header.Get("X-Original-Method"))
}

// FromForwarded reads the target of a Caddy forward_auth or Traefik
// forwardAuth request: X-Forwarded-Proto, -Host, -Uri and -Method, which
// both proxies set themselves, replacing any copy the client sent.
// X-Original-URL is ignored here: those proxies pass a client's copy through.
func FromForwarded(r *http.Request) (Target, error) {
	h := r.Header
	return newTarget(h.Get("X-Forwarded-Proto"), h.Get("X-Forwarded-Host"), h.Get("X-Forwarded-Uri"), h.Get("X-Forwarded-Method"))
}

// Parse builds a target from a URL and a method, as "authd rules explain"
// is given them.
func Parse(rawURL, method string) (Target, error) {
	r := &http.Request{Header: http.Header{"X-Original-Url": {rawURL}, "X-Original-Method": {method}}}
	return FromNginx(r)
}

func newTarget(scheme, host, uri, method string) (Target, error) {
	if len(scheme)+len(host)+len(uri)+len(method) > maxTargetLen {
		return Target{}, fmt.Errorf("%w: longer than %d bytes", ErrBadTarget, maxTargetLen)
	}
	t := Target{Scheme: strings.ToLower(scheme), RequestURI: uri, Method: strings.ToUpper(method)}
	if t.Scheme != "http" && t.Scheme != "https" {
		return Target{}, fmt.Errorf("%w: scheme %q (want http or https)", ErrBadTarget, scheme)
	}
	if t.Method == "" || !isToken(t.Method) {
		return Target{}, fmt.Errorf("%w: missing or malformed method", ErrBadTarget)
	}
	hostname, err := checkHost(host)
	if err != nil {
		return Target{}, err
	}
	t.Host = strings.ToLower(host)
	p, err := cleanPath(uri)
	if err != nil {
		return Target{}, err
	}
	t.Resource = access.Resource{Host: hostname, Path: p, Method: t.Method}
	return t, nil
}

// checkHost validates host[:port] and returns the host name in lower
// case, without port or trailing dot.
func checkHost(hostport string) (string, error) {
	if hostport == "" {
		return "", fmt.Errorf("%w: no host", ErrBadTarget)
	}
	host, port := hostport, ""
	if h, p, err := net.SplitHostPort(hostport); err == nil {
		if p == "" {
			return "", fmt.Errorf("%w: empty port in %q", ErrBadTarget, hostport)
		}
		host, port = h, p
	} else if strings.Contains(hostport, ":") && !strings.HasPrefix(hostport, "[") {
		return "", fmt.Errorf("%w: malformed host %q", ErrBadTarget, hostport)
	}
	if port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || port[0] == '+' {
			return "", fmt.Errorf("%w: malformed port in %q", ErrBadTarget, hostport)
		}
	}
	if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		host = host[1 : len(host)-1]
	}
	if ip := net.ParseIP(host); ip != nil {
		return strings.ToLower(host), nil
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == "" || len(host) > 253 {
		return "", fmt.Errorf("%w: malformed host %q", ErrBadTarget, hostport)
	}
	for _, label := range strings.Split(host, ".") {
		if label == "" || len(label) > 63 {
			return "", fmt.Errorf("%w: malformed host %q", ErrBadTarget, hostport)
		}
		for i := 0; i < len(label); i++ {
			if c := label[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return "", fmt.Errorf("%w: malformed host %q", ErrBadTarget, hostport)
			}
		}
	}
	return host, nil
}

// cleanPath returns the path of a request-target as the access rules see
// it: percent-decoded, with repeated slashes merged and each segment's
// ";parameters" dropped (as Tomcat and others do before routing). Whatever
// could make the upstream see another path than the rules would, it
// refuses: dot segments (raw, encoded, or with parameters like "..;"),
// encoded '/' , '\' or '%', control characters and backslashes. Browsers
// never send those, since they resolve dot segments themselves.
func cleanPath(uri string) (string, error) {
	if i := strings.IndexAny(uri, "?#"); i >= 0 {
		uri = uri[:i]
	}
	if !strings.HasPrefix(uri, "/") {
		return "", fmt.Errorf("%w: the path must start with /", ErrBadTarget)
	}
	var b strings.Builder
	b.Grow(len(uri))
	for i := 0; i < len(uri); i++ {
		c := uri[i]
		if c == '%' {
			if i+2 >= len(uri) || !isHex(uri[i+1]) || !isHex(uri[i+2]) {
				return "", fmt.Errorf("%w: malformed percent-encoding in the path", ErrBadTarget)
			}
			c = unhex(uri[i+1])<<4 | unhex(uri[i+2])
			i += 2
			if c == '/' || c == '%' {
				return "", fmt.Errorf("%w: encoded %q in the path is ambiguous", ErrBadTarget, c)
			}
		}
		if c < 0x20 || c == 0x7f || c == '\\' {
			return "", fmt.Errorf("%w: control character or backslash in the path", ErrBadTarget)
		}
		b.WriteByte(c)
	}
	segs := strings.Split(b.String()[1:], "/")
	out := make([]string, 0, len(segs))
	for i, s := range segs {
		if k := strings.IndexByte(s, ';'); k >= 0 {
			s = s[:k]
		}
		switch {
		case s == "." || s == "..":
			return "", fmt.Errorf("%w: dot segment in the path", ErrBadTarget)
		case s == "" && i < len(segs)-1:
			continue // "//": merged
		}
		out = append(out, s)
	}
	return "/" + strings.Join(out, "/"), nil
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}

// isToken reports whether s is an HTTP token (RFC 9110), as method names are.
func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return s != ""
}

// escapeUnsafe percent-encodes the bytes of a request-target that may not
// appear in a URL as they are, leaving existing escapes alone.
func escapeUnsafe(s string) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= 0x20 || c >= 0x7f || strings.IndexByte(`"<>\^`+"`{|}", c) >= 0 {
			b.WriteByte('%')
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&15])
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}
