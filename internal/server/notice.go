package server

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/sessionauth/authd/internal/session"
)

// A notice tells the user, on the page a redirect leads to, what their last
// action did ("Session on Safari on iOS ended"). It needs no JavaScript: the
// action's answer sets a short-lived cookie naming the notice, and the next
// page rendered shows it and deletes the cookie, so it is shown once.
//
// The cookie names one of a fixed set of notices; the page writes the
// words. Its one free-form part, the device of an ended session, is limited
// to the few characters a user-agent summary uses, so a cookie set by
// someone else can make the page say nothing but one of these sentences.
const noticeCookie = "authd_notice"

// The notices. Each is a code in the cookie and a sentence on the page.
const (
	noticeWelcome         = "welcome"       // after sign-up
	noticeSessionEnded    = "session-ended" // arg: the device summary
	noticeOthersEnded     = "others-ended"  // arg: how many
	noticePasswordChanged = "password-changed"
)

// signedOutQuery marks the page a sign-out leads to. It needs no cookie, so
// it holds whatever Clear-Site-Data the sign-out sends, and it shows its
// notice only to a visitor who is indeed signed out, so a link carrying it
// cannot make the page say anything false.
const signedOutQuery = "signed-out"

// maxNoticeArg bounds the argument of a notice.
const maxNoticeArg = 48

// setNotice makes the next page rendered for this browser show a notice.
// JSON clients do not get one: their answer says what happened.
func (a *app) setNotice(w http.ResponseWriter, r *http.Request, code, arg string) {
	if wantsJSON(r) {
		return
	}
	v := url.Values{"n": {code}}
	if arg != "" {
		v.Set("a", arg)
	}
	http.SetCookie(w, &http.Cookie{
		Name:     noticeCookie,
		Value:    v.Encode(),
		Path:     "/",
		MaxAge:   60, // the redirect follows at once; a stale one must not linger
		HttpOnly: true,
		Secure:   a.CookieSecure || r.TLS != nil,
		SameSite: http.SameSiteLaxMode,
	})
}

// takeNotice returns the words of the notice this request carries, if any,
// and whether it carried the cookie (which render then deletes). user is
// the signed-in user's name, or "" when signed out.
func takeNotice(r *http.Request, user string) (msg string, had bool) {
	if user == "" && r.URL.Query().Has(signedOutQuery) {
		msg = "You are signed out."
	}
	c, err := r.Cookie(noticeCookie)
	if err != nil {
		return msg, false
	}
	v, err := url.ParseQuery(c.Value)
	if err != nil {
		return msg, true
	}
	if m := noticeText(v.Get("n"), v.Get("a"), user); m != "" {
		msg = m
	}
	return msg, true
}

// noticeText is the sentence of a notice, or "" for an unknown code, a bad
// argument, or a notice meant for a signed-in user shown to none.
func noticeText(code, arg, user string) string {
	if !validNoticeArg(arg) || user == "" {
		return ""
	}
	switch code {
	case noticeWelcome:
		return "Welcome, " + user + "! Your account is ready, and you are signed in."
	case noticeSessionEnded:
		if arg == "" {
			return "The session was ended."
		}
		return "Session on " + arg + " ended."
	case noticeOthersEnded:
		n, err := strconv.Atoi(arg)
		if err != nil {
			return ""
		}
		switch n {
		case 0:
			return "There were no other sessions to end."
		case 1:
			return "1 other session ended: you are signed out everywhere else."
		default:
			return strconv.Itoa(n) + " other sessions ended: you are signed out everywhere else."
		}
	case noticePasswordChanged:
		return "Your password was changed, and every other session of your account was signed out."
	}
	return ""
}

// validNoticeArg accepts what a user-agent summary or a count is made of.
func validNoticeArg(s string) bool {
	if len(s) > maxNoticeArg {
		return false
	}
	return strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .-") == ""
}

// clearNotice deletes the notice cookie once its page has been rendered.
func (a *app) clearNotice(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{
		Name: noticeCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: a.CookieSecure || r.TLS != nil, SameSite: http.SameSiteLaxMode,
	})
}

// endedNotice says why the session this device presented no longer works,
// for the sign-in page. A visitor who presented no session cookie is told
// nothing; a made-up one reads as expired.
func endedNotice(why session.EndReason) string {
	switch why {
	case session.EndRevoked:
		return "Your session was ended from another device. Please sign in again."
	case session.EndPasswordChanged:
		return "Your password was changed on another device, which signed this one out. Please sign in with the new password."
	case session.EndExpired:
		return "Your session expired. Please sign in again."
	}
	return ""
}
