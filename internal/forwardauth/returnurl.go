package forwardauth

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// maxReturnLen bounds a return URL; longer ones are refused.
const maxReturnLen = 4096

// origin is one entry of the allowed list: a scheme and a host pattern
// (exact, or "*.suffix" for every host below suffix). Ports are not
// compared: cookies do not distinguish them either.
type origin struct {
	schemes []string
	host    string
}

func (o origin) allows(scheme, host string) bool {
	if !slices.Contains(o.schemes, scheme) {
		return false
	}
	if strings.HasPrefix(o.host, "*.") {
		return len(host) > len(o.host)-1 && strings.HasSuffix(host, o.host[1:])
	}
	return host == o.host
}

// parseOrigin reads a configured entry "https://app.example.com" or
// "https://*.example.com".
func parseOrigin(s string) (origin, error) {
	scheme, host, ok := strings.Cut(strings.ToLower(strings.TrimSpace(s)), "://")
	if !ok || (scheme != "http" && scheme != "https") {
		return origin{}, fmt.Errorf("%q: want http:// or https:// and a host, e.g. https://app.example.com or https://*.example.com", s)
	}
	name := strings.TrimPrefix(host, "*.")
	if _, err := checkHost(name); err != nil || strings.ContainsAny(name, ":[]") {
		return origin{}, fmt.Errorf("%q: want a host name without port or path", s)
	}
	return origin{schemes: []string{scheme}, host: host}, nil
}

// ReturnTarget checks an absolute return URL (F2): it is followed only when
// its scheme and host are on the allowed list, and when nothing in it can
// make a browser read another host than the one checked: user info ("@"),
// backslashes, percent signs, spaces or control characters in the
// authority, a scheme-relative "//host", or any non-ASCII byte. It
// returns the URL with scheme and host in lower case.
func (g *Guard) ReturnTarget(raw string) (string, bool) {
	if raw == "" || len(raw) > maxReturnLen {
		return "", false
	}
	for i := 0; i < len(raw); i++ {
		// Browsers strip tabs and newlines from URLs and read '\' as '/',
		// so either could turn a checked URL into another one.
		if c := raw[i]; c <= 0x20 || c >= 0x7f || c == '\\' {
			return "", false
		}
	}
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return "", false
	}
	scheme = strings.ToLower(scheme)
	authority, tail := rest, ""
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		authority, tail = rest[:i], rest[i:]
	}
	if strings.ContainsAny(authority, "@%") {
		return "", false
	}
	host, err := checkHost(authority)
	if err != nil {
		return "", false
	}
	allowed := false
	for _, o := range g.returns {
		allowed = allowed || o.allows(scheme, host)
	}
	if !allowed {
		return "", false
	}
	// Finally, the standard parser must read the same scheme and host.
	out := scheme + "://" + strings.ToLower(authority) + tail
	u, err := url.Parse(out)
	if err != nil || u.Scheme != scheme || u.User != nil || u.Opaque != "" || u.Host != strings.ToLower(authority) {
		return "", false
	}
	return out, true
}

// returnOrigins builds the allowed list: authd's own origin, the cookie
// domain and every host below it (https only when the cookie is Secure),
// and the configured extras.
func returnOrigins(publicURL *url.URL, cookieDomain string, secure bool, extra []string) ([]origin, error) {
	var list []origin
	if publicURL != nil {
		list = append(list, origin{schemes: []string{publicURL.Scheme}, host: publicURL.Hostname()})
	}
	if d := strings.TrimPrefix(strings.ToLower(cookieDomain), "."); d != "" {
		schemes := []string{"http", "https"}
		if secure {
			schemes = []string{"https"}
		}
		list = append(list, origin{schemes: schemes, host: d}, origin{schemes: schemes, host: "*." + d})
	}
	var errs []error
	for _, s := range extra {
		o, err := parseOrigin(s)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		list = append(list, o)
	}
	return list, errors.Join(errs...)
}

// CheckReturnOrigins validates configured return origins, one message each.
func CheckReturnOrigins(list []string) error {
	_, err := returnOrigins(nil, "", false, list)
	return err
}
