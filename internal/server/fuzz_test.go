package server

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzDecodeCredentials feeds arbitrary bodies, as a form and as JSON, to
// the decoder every sign-in and sign-up goes through: it must return
// credentials or one of its two errors, never panic, and never read a field
// from anywhere but the body.
func FuzzDecodeCredentials(f *testing.F) {
	for _, s := range []string{
		"username=alice&password=secret&next=%2Faccount&remember=on",
		`{"username":"alice","password":"secret","remember":true}`,
		"username=%ff%fe&password=%00", `{"username":1}`, `{"a":1}`, `{} {}`,
		"%", "username=a&username=b", strings.Repeat("x=", 100), `{"password":"\ud800"}`,
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, body string, asJSON bool) {
		r := httptest.NewRequest(http.MethodPost, "/login?username=fromurl&password=fromurl", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if asJSON {
			r.Header.Set("Content-Type", "application/json")
		}
		r.Body = http.MaxBytesReader(httptest.NewRecorder(), r.Body, 1024)
		c, err := decodeCredentials(r)
		if err != nil {
			if !errors.Is(err, errMalformed) && !errors.Is(err, errTooLarge) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if c.Username == "fromurl" || c.Password == "fromurl" {
			if !strings.Contains(body, "fromurl") {
				t.Fatalf("credentials taken from the URL: %+v", c)
			}
		}
		if len(body) > 1024 {
			t.Fatalf("a %d-byte body was accepted over the 1024-byte cap", len(body))
		}
		// What the form echoes back is always safe to show.
		if e := echo(c.Username); strings.ContainsAny(e, "\x00\r\n") || len([]rune(e)) > 64 {
			t.Fatalf("echo(%q) = %q", c.Username, e)
		}
	})
}
