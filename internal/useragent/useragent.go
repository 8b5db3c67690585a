// Package useragent turns User-Agent headers into what a person recognises
// in a list of their sessions or of their account's activity.
package useragent

import (
	"strings"
)

// Summary reduces a User-Agent header to a short name such as "Firefox on
// Linux" or "curl". Sessions store only the summary: it is short, and it is
// all a list needs.
func Summary(ua string) string {
	if ua == "" {
		return "unknown client"
	}
	browser := ""
	for _, b := range []struct{ token, name string }{
		// Order matters: Edge and Opera also claim Chrome, Chrome claims Safari.
		{"Edg/", "Edge"}, {"OPR/", "Opera"}, {"Firefox/", "Firefox"},
		{"Chrome/", "Chrome"}, {"Chromium/", "Chromium"}, {"Safari/", "Safari"},
		{"curl/", "curl"}, {"Wget/", "Wget"}, {"Go-http-client/", "Go client"},
		{"python-requests/", "Python requests"},
	} {
		if strings.Contains(ua, b.token) {
			browser = b.name
			break
		}
	}
	os := ""
	for _, o := range []struct{ token, name string }{
		{"Android", "Android"}, {"iPhone", "iOS"}, {"iPad", "iPadOS"},
		{"Windows", "Windows"}, {"Mac OS X", "macOS"}, {"CrOS", "ChromeOS"},
		{"Linux", "Linux"},
	} {
		if strings.Contains(ua, o.token) {
			os = o.name
			break
		}
	}
	switch {
	case browser != "" && os != "":
		return browser + " on " + os
	case browser != "":
		return browser
	case os != "":
		return "browser on " + os
	}
	return "other client"
}
