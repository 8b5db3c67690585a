package server

import (
	"net/http"
	"strings"
	"testing"
)

// Misses under /static get the site's 404 page, never a 5xx or Go's plain
// "404 page not found": a path that is not a valid file name (invalid UTF-8,
// "..") included, so that nobody can produce server errors at will.
func TestStaticMissesAreTheSitesNotFound(t *testing.T) {
	ts := newTestServer(t)
	c := ts.client(t)
	wantStatus(t, c.get("/static/style.css"), http.StatusOK)
	for _, path := range []string{"/static/%ff", "/static/%c0%ae", "/static/nope.css", "/static/", "/static/a/../../x",
		"/static/style.css/", "/static/%00", "/static/%2e%2e/go.mod"} {
		for _, accept := range []string{"text/html", "application/json"} {
			resp := c.get(path, "Accept", accept)
			b := body(t, resp)
			if resp.StatusCode != http.StatusNotFound {
				t.Errorf("GET %s (%s): status %d, want 404; body %.200q", path, accept, resp.StatusCode, b)
				continue
			}
			switch accept {
			case "text/html":
				if !strings.Contains(b, "There is no page at this address.") || !strings.Contains(b, "<html") {
					t.Errorf("GET %s: not the site's 404 page: %.200q", path, b)
				}
			default:
				if !strings.Contains(b, `"error"`) {
					t.Errorf("GET %s (JSON): body %.200q", path, b)
				}
			}
			if resp.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("GET %s: a miss is cacheable (Cache-Control %q)", path, resp.Header.Get("Cache-Control"))
			}
		}
	}
}
