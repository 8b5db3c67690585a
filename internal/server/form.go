package server

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"
)

// credentials is the body of POST /login and POST /signup, sent as an HTML
// form (application/x-www-form-urlencoded) or as JSON.
type credentials struct {
	Username string `json:"username"`
	Password string `json:"password"`
	Next     string `json:"next"`
}

// Errors of decodeCredentials.
var (
	errTooLarge  = errors.New("request body too large")
	errMalformed = errors.New("request body malformed")
)

func isMaxBytes(err error) bool {
	var mbe *http.MaxBytesError
	return errors.As(err, &mbe)
}

// decodeCredentials reads credentials from the request body. It fails with
// errTooLarge over the body cap, or with a plain message for malformed input.
func decodeCredentials(r *http.Request) (credentials, error) {
	var c credentials
	if isJSONBody(r) {
		dec := json.NewDecoder(r.Body)
		dec.DisallowUnknownFields()
		err := dec.Decode(&c)
		if err == nil && dec.More() {
			err = errors.New("data after the JSON object")
		}
		if err != nil {
			if isMaxBytes(err) {
				return c, errTooLarge
			}
			return c, errMalformed
		}
		return c, nil
	}
	if err := r.ParseForm(); err != nil {
		if isMaxBytes(err) {
			return c, errTooLarge
		}
		return c, errMalformed
	}
	// Only the body: credentials must never travel in the URL.
	c.Username = r.PostForm.Get("username")
	c.Password = r.PostForm.Get("password")
	c.Next = r.PostForm.Get("next")
	return c, nil
}

// echo returns user input fit to show back in a form: valid UTF-8, without
// control characters, and short.
func echo(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
	if utf8.RuneCountInString(s) > 64 {
		s = string([]rune(s)[:64])
	}
	return s
}

// maxRedirectLen bounds redirect targets; longer ones are refused.
const maxRedirectLen = 2048

// localRedirect returns target if it is a path on this site, and ok=false
// for anything that could lead elsewhere: absolute URLs, scheme-relative
// "//host", "/\host" (which browsers read as "//host"), and any control
// character (browsers strip tabs and newlines, turning "/\t/host" into
// "//host").
func localRedirect(target string) (string, bool) {
	if target == "" || len(target) > maxRedirectLen || target[0] != '/' {
		return "", false
	}
	if len(target) > 1 && (target[1] == '/' || target[1] == '\\') {
		return "", false
	}
	for i := 0; i < len(target); i++ {
		if c := target[i]; c < 0x20 || c == 0x7f || c == '\\' {
			return "", false
		}
	}
	u, err := url.Parse(target)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || !strings.HasPrefix(u.Path, "/") {
		return "", false
	}
	return target, true
}

// nextOr returns the validated redirect target, or fallback.
func nextOr(target, fallback string) string {
	if t, ok := localRedirect(target); ok {
		return t
	}
	return fallback
}

// badBody answers a body decodeCredentials refused: 413 or 400.
func (a *app) badBody(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, errTooLarge) {
		w.Header().Set("Connection", "close")
		a.fail(w, r, http.StatusRequestEntityTooLarge, "The request is too large.")
		return
	}
	a.fail(w, r, http.StatusBadRequest, "The request body could not be read as a form or as JSON.")
}
