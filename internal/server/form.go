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
	// Rd is the URL of a protected app the sign-in started from, where it
	// returns afterwards (the name Authelia and oauth2-proxy use).
	Rd string `json:"rd"`
	// Remember asks for a "keep me signed in" session (sign-in only).
	Remember bool `json:"remember"`
	// Email is an optional address to confirm (sign-up only).
	Email string `json:"email"`
}

func (c *credentials) fromForm(f url.Values) {
	c.Username = f.Get("username")
	c.Password = f.Get("password")
	c.Next = f.Get("next")
	c.Rd = f.Get("rd")
	c.Remember = checked(f.Get("remember"))
	c.Email = f.Get("email")
}

// passwordChange is the body of POST /account/password and /api/password.
type passwordChange struct {
	Current string `json:"current_password"`
	New     string `json:"new_password"`
	// Confirm, when sent (the HTML form does), must equal New.
	Confirm string `json:"confirm_password"`
}

func (p *passwordChange) fromForm(f url.Values) {
	p.Current = f.Get("current_password")
	p.New = f.Get("new_password")
	p.Confirm = f.Get("confirm_password")
}

// checked reads an HTML checkbox or a form boolean.
func checked(v string) bool {
	switch strings.ToLower(v) {
	case "on", "true", "1", "yes":
		return true
	}
	return false
}

// Errors of decodeBody.
var (
	errTooLarge  = errors.New("request body too large")
	errMalformed = errors.New("request body malformed")
)

func isMaxBytes(err error) bool {
	var mbe *http.MaxBytesError
	return errors.As(err, &mbe)
}

// decodeBody reads a JSON body into v, or a form body through fromForm. It
// fails with errTooLarge over the body cap, or errMalformed. Only the body
// is read: secrets must never travel in the URL.
func decodeBody(r *http.Request, v any, fromForm func(url.Values)) error {
	if isJSONBody(r) {
		dec := json.NewDecoder(r.Body)
		dec.DisallowUnknownFields()
		err := dec.Decode(v)
		if err == nil && dec.More() {
			err = errors.New("data after the JSON object")
		}
		if err != nil {
			if isMaxBytes(err) {
				return errTooLarge
			}
			return errMalformed
		}
		return nil
	}
	if err := r.ParseForm(); err != nil {
		if isMaxBytes(err) {
			return errTooLarge
		}
		return errMalformed
	}
	fromForm(r.PostForm)
	return nil
}

// decodeCredentials reads the credentials of a sign-in or sign-up.
func decodeCredentials(r *http.Request) (credentials, error) {
	var c credentials
	err := decodeBody(r, &c, c.fromForm)
	return c, err
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

// badBody answers a body decodeBody refused: 413 or 400.
func (a *app) badBody(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, errTooLarge) {
		w.Header().Set("Connection", "close")
		a.fail(w, r, http.StatusRequestEntityTooLarge, "The request is too large.")
		return
	}
	a.fail(w, r, http.StatusBadRequest, "The request body could not be read as a form or as JSON.")
}
