package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/sessionauth/authd/internal/activity"
	"github.com/sessionauth/authd/internal/mfa"
	"github.com/sessionauth/authd/internal/session"
	"github.com/sessionauth/authd/internal/throttle"
	"github.com/sessionauth/authd/internal/user"
	"github.com/sessionauth/authd/internal/useragent"
	"github.com/sessionauth/authd/web"
)

// pageData is what every template sees.
type pageData struct {
	Title         string
	User          *session.Info // nil when signed out
	Session       session.Info
	SignupEnabled bool
	// CanRemember shows the "keep me signed in" choice.
	CanRemember bool
	// Notice is a one-line message above the page: what the last action
	// did (notice.go), or that a dependency is down.
	Notice   string
	Message  string
	Form     *formView
	Sessions []session.Entry
	Activity []activity.Event
	// Account is the signed-in user's row, for pages that show more than
	// the session holds (the e-mail page).
	Account *user.User
	Groups  []string
	// GroupsUnknown: the groups could not be read (the database is down).
	GroupsUnknown bool
	// Factors are the account's second factors (the two-factor pages and
	// the second step of sign-in); MFA the two-factor pages' details.
	Factors *mfa.Factors
	MFA     *mfaView
	// Scripts loads the WebAuthn script (the CSP allows script-src 'self'
	// on such pages only).
	Scripts bool
	// Now is when the page is rendered, for relative times ("5 minutes ago").
	Now time.Time

	// hadNotice: the request carried the notice cookie, which render deletes.
	hadNotice bool
}

// formView re-shows a form after a failed submission: the user's input
// (never the password) and what was wrong with it.
type formView struct {
	Username string
	Next     string
	// ReturnTo is the checked URL of the protected app a sign-in started
	// from; every step of the sign-in carries it (field "rd").
	ReturnTo string
	Remember bool
	// Email is the address typed (sign-up, the e-mail page); Login the
	// name or address of "forgot password"; Token the token of an e-mailed
	// link, carried from the link's page to its form.
	Email  string
	Login  string
	Token  string
	Error  string
	Fields map[string]string
}

// Focus returns the field that should have the focus when the page loads:
// the first of names (in page order) that is in error, else the first.
// Pages run no script, so this becomes the field's autofocus attribute.
func (f *formView) Focus(names ...string) string {
	for _, n := range names {
		if f.Fields[n] != "" {
			return n
		}
	}
	if len(names) == 0 {
		return ""
	}
	return names[0]
}

// templateFuncs are the helpers every template may call.
var templateFuncs = template.FuncMap{
	// when describes a time relative to the page's Now.
	"when": when,
	// agent is the short name of a User-Agent header ("Safari on iOS"),
	// the same summary the sessions page shows.
	"agent": useragent.Summary,
	// methods says in words how a session signed in.
	"methods": methodWords,
}

// methodWords says in words how a session signed in (its amr methods).
func methodWords(amr []string) string {
	words := map[string]string{amrPassword: "password", amrOTP: "authenticator app", amrPasskey: "passkey", amrRecovery: "recovery code"}
	var out []string
	for _, m := range amr {
		if w, ok := words[m]; ok {
			out = append(out, w)
		}
	}
	return strings.Join(out, " and ")
}

// parsePages parses each page together with the base layout, once, at start.
func parsePages() (map[string]*template.Template, error) {
	files, err := fs.Glob(web.Files, "templates/*.html")
	if err != nil {
		return nil, err
	}
	pages := make(map[string]*template.Template)
	for _, f := range files {
		name := strings.TrimSuffix(strings.TrimPrefix(f, "templates/"), ".html")
		if name == "base" {
			continue
		}
		t, err := template.New(name).Funcs(templateFuncs).ParseFS(web.Files, "templates/base.html", f)
		if err != nil {
			return nil, fmt.Errorf("server: parse template %s: %w", f, err)
		}
		pages[name] = t
	}
	return pages, nil
}

// page returns the data common to every page for this request.
func (a *app) page(r *http.Request, title string) *pageData {
	d := &pageData{Title: title, SignupEnabled: a.SignupEnabled, CanRemember: a.Sessions.CanRemember(), Now: time.Now()}
	info, err := a.Sessions.Current(r.Context())
	switch {
	case err == nil:
		d.User, d.Session = &info, info
	case errors.Is(err, session.ErrUnavailable):
		d.Notice = "Sign-in is temporarily unavailable; please try again in a moment."
	}
	if d.Notice == "" {
		d.Notice, d.hadNotice = takeNotice(r, info.Name)
	}
	return d
}

// render writes a page with the given status. It renders into a buffer
// first, so that a template error becomes a clean 500, not half a page.
func (a *app) render(w http.ResponseWriter, r *http.Request, status int, name string, data *pageData) {
	t, ok := a.pages[name]
	if !ok {
		a.serverError(w, r, fmt.Errorf("server: no page %q", name))
		return
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "base", data); err != nil {
		a.serverError(w, r, fmt.Errorf("server: render %s: %w", name, err))
		return
	}
	if data.hadNotice {
		a.clearNotice(w, r) // shown once
	}
	if data.Scripts {
		// The WebAuthn pages load one script file from this origin; still
		// no inline script, eval or other origin.
		w.Header().Set("Content-Security-Policy", contentSecurityPolicyScripts)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}

// writeJSON writes v as a JSON response.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Only values built by this package are encoded; none can fail.
		status, b = http.StatusInternalServerError, []byte(`{"error":"internal error"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// wantsJSON reports whether the client asked for JSON rather than HTML: by
// path, by Accept, or by sending JSON itself.
func wantsJSON(r *http.Request) bool {
	return strings.HasPrefix(r.URL.Path, "/api/") || strings.HasPrefix(r.URL.Path, "/oauth/") ||
		strings.Contains(strings.ToLower(r.Header.Get("Accept")), "application/json") ||
		isJSONBody(r)
}

// isJSONBody reports whether the request body is declared as JSON.
func isJSONBody(r *http.Request) bool {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return mt == "application/json"
}

// fail answers with a status and a message meant for the user, as an error
// page or as {"error": msg}.
func (a *app) fail(w http.ResponseWriter, r *http.Request, status int, msg string) {
	if wantsJSON(r) {
		writeJSON(w, status, map[string]string{"error": msg})
		return
	}
	d := a.page(r, http.StatusText(status))
	d.Message = msg
	a.render(w, r, status, "error", d)
}

// serverError logs an unexpected failure once and shows a generic 500; the
// cause never reaches the client.
func (a *app) serverError(w http.ResponseWriter, r *http.Request, err error) {
	a.logger(r).Error("internal error", "err", err)
	if wantsJSON(r) {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "internal error"})
		return
	}
	// Not through render: the failure may be in the templates themselves.
	http.Error(w, "Something went wrong on our side. Please try again.", http.StatusInternalServerError)
}

// unavailable logs a failure of Redis or the database once and answers 503.
func (a *app) unavailable(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil && errors.Is(err, r.Context().Err()) {
		// The client gave up (e.g. while its sign-in waited for a bcrypt
		// slot): nothing failed on our side and nobody reads the answer.
		a.logger(r).Debug("client went away", "err", err)
		w.WriteHeader(499) // nginx's "client closed request", for the access log
		return
	}
	a.logger(r).Warn("dependency unavailable", "err", err)
	store, op := "sql", "write"
	if errors.Is(err, session.ErrUnavailable) || errors.Is(err, throttle.ErrUnavailable) {
		store = "redis"
	}
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		op = "read"
	}
	a.Metrics.StoreError(store, op)
	if r.URL.Path == "/login" {
		a.Metrics.SignIn("unavailable")
	}
	w.Header().Set("Retry-After", "5")
	a.fail(w, r, http.StatusServiceUnavailable, "The service is temporarily unavailable. Please try again in a moment.")
}
