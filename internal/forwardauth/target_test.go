package forwardauth_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/sessionauth/authd/internal/access"
	"github.com/sessionauth/authd/internal/forwardauth"
)

func TestFromNginx(t *testing.T) {
	r := &http.Request{Header: http.Header{}}
	r.Header.Set("X-Original-URL", "https://App1.Example.COM:8443/wiki/Main%20Page?action=edit")
	r.Header.Set("X-Original-Method", "post")
	tg, err := forwardauth.FromNginx(r)
	if err != nil {
		t.Fatal(err)
	}
	want := access.Resource{Host: "app1.example.com", Path: "/wiki/Main Page", Method: "POST"}
	if tg.Resource != want || tg.URL() != "https://app1.example.com:8443/wiki/Main%20Page?action=edit" {
		t.Fatalf("target %+v, URL %s", tg, tg.URL())
	}
	// Both headers are required: a configuration without one fails
	// loudly rather than trusting a client's copy.
	for _, h := range []string{"X-Original-URL", "X-Original-Method"} {
		r2 := &http.Request{Header: r.Header.Clone()}
		r2.Header.Del(h)
		if _, err := forwardauth.FromNginx(r2); !errors.Is(err, forwardauth.ErrBadTarget) {
			t.Errorf("without %s: %v, want ErrBadTarget", h, err)
		}
	}
}

func TestFromForwarded(t *testing.T) {
	r := &http.Request{Header: http.Header{}}
	r.Header.Set("X-Forwarded-Proto", "http")
	r.Header.Set("X-Forwarded-Host", "app2.example.com")
	r.Header.Set("X-Forwarded-Uri", "/")
	r.Header.Set("X-Forwarded-Method", "GET")
	// A client's X-Original-URL passes through Caddy and Traefik: ignored.
	r.Header.Set("X-Original-URL", "http://public.example.com/")
	tg, err := forwardauth.FromForwarded(r)
	if err != nil {
		t.Fatal(err)
	}
	if tg.Resource.Host != "app2.example.com" || tg.URL() != "http://app2.example.com/" {
		t.Fatalf("target %+v", tg)
	}
	for _, h := range []string{"X-Forwarded-Proto", "X-Forwarded-Host", "X-Forwarded-Uri", "X-Forwarded-Method"} {
		r2 := &http.Request{Header: r.Header.Clone()}
		r2.Header.Del(h)
		if _, err := forwardauth.FromForwarded(r2); !errors.Is(err, forwardauth.ErrBadTarget) {
			t.Errorf("without %s: %v, want ErrBadTarget", h, err)
		}
	}
}

// The path the rules see is the path the app sees; anything that could
// differ between the two is refused rather than guessed.
func TestTargetPaths(t *testing.T) {
	ok := map[string]string{
		"/":                   "/",
		"/admin":              "/admin",
		"/admin/":             "/admin/",
		"//admin":             "/admin",
		"/a//b///c":           "/a/b/c",
		"/%61dmin":            "/admin",
		"/admin;jsessionid=1": "/admin",
		"/admin;x/users":      "/admin/users",
		"/admin%3Bx":          "/admin",
		"/a%20b":              "/a b",
		"/caf%C3%A9":          "/café",
		"/a?x=/../..":         "/a",
		"/a#frag":             "/a",
		"/.well-known/x":      "/.well-known/x",
		"/a/...":              "/a/...",
	}
	for uri, want := range ok {
		tg, err := forwardauth.Parse("https://app.example.com"+uri, "GET")
		if err != nil || tg.Resource.Path != want {
			t.Errorf("path of %q = %q, %v; want %q", uri, tg.Resource.Path, err, want)
		}
	}
	bad := []string{
		"/public/../admin", "/public/./admin", "/..", "/.", "/a/..",
		"/public/%2e%2e/admin", "/public/%2E%2e/admin", "/public/.%2e/admin",
		"/public/..;/admin", "/public/..;x=1/admin",
		"/public%2f..%2fadmin", "/public%2Fadmin",
		"/a%5cb", `/a\b`, "/a%00b", "/a\x00b", "/a%0d%0ab", "/a\tb",
		"/a%25", "/a%252e%252e", "/a%", "/a%zz", "/a%2",
		"*", "admin", "",
	}
	for _, uri := range bad {
		r := &http.Request{Header: http.Header{"X-Forwarded-Proto": {"https"}, "X-Forwarded-Host": {"app.example.com"},
			"X-Forwarded-Uri": {uri}, "X-Forwarded-Method": {"GET"}}}
		if tg, err := forwardauth.FromForwarded(r); !errors.Is(err, forwardauth.ErrBadTarget) {
			t.Errorf("path %q accepted as %q; want ErrBadTarget", uri, tg.Resource.Path)
		}
	}
}

func TestTargetHosts(t *testing.T) {
	for host, want := range map[string]string{
		"app.example.com": "app.example.com", "APP.Example.com:8080": "app.example.com",
		"app.example.com.": "app.example.com", "127.0.0.1:80": "127.0.0.1", "[::1]:8080": "::1", "[::1]": "::1",
	} {
		tg, err := forwardauth.Parse("http://"+host+"/", "GET")
		if err != nil || tg.Resource.Host != want {
			t.Errorf("host %q = %q, %v; want %q", host, tg.Resource.Host, err, want)
		}
	}
	for _, raw := range []string{
		"http:///x", "http://a b/", "http://evil.example@app.example.com/", "http://app.example.com:x/",
		"http://app.example.com:0/", "http://app.example.com:70000/", "http://app.example.com:/", "http://::1/",
		"http://app%2eexample.com/", "http://a..b/", "http://" + strings.Repeat("a", 64) + ".com/",
		"ftp://app.example.com/", "app.example.com/x", "http//app.example.com/", "http://app.example.com\\x/",
		"http://app.example.com/" + strings.Repeat("a", 9000),
	} {
		if tg, err := forwardauth.Parse(raw, "GET"); !errors.Is(err, forwardauth.ErrBadTarget) {
			t.Errorf("Parse(%q) = %+v, %v; want ErrBadTarget", raw, tg.Resource, err)
		}
	}
	for _, m := range []string{"", "GET /", "G\x00T"} {
		if _, err := forwardauth.Parse("http://app.example.com/", m); !errors.Is(err, forwardauth.ErrBadTarget) {
			t.Errorf("method %q accepted", m)
		}
	}
}

// FuzzTarget: whatever a proxy or client sends, parsing never panics, and
// an accepted path is absolute and free of dot segments.
func FuzzTarget(f *testing.F) {
	for _, s := range []string{"/", "/a/../b", "/%2e%2e/", "/a;b/c", "//x", "/a%2", "/\\x"} {
		f.Add("app.example.com", s)
	}
	f.Fuzz(func(t *testing.T, host, uri string) {
		tg, err := forwardauth.Parse("https://"+host+uri, "GET")
		if err != nil {
			return
		}
		p := tg.Resource.Path
		if !strings.HasPrefix(p, "/") || strings.Contains(p, "//") || strings.Contains(p, "\\") {
			t.Fatalf("path %q from %q", p, uri)
		}
		for _, seg := range strings.Split(p, "/") {
			if seg == "." || seg == ".." {
				t.Fatalf("dot segment in %q from %q", p, uri)
			}
		}
	})
}
