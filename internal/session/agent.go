package session

import (
	"strings"
)

// summarizeAgent reduces a User-Agent header to what a person recognises in
// a list of their sessions ("Firefox on Linux", "curl"). Only the summary is
// stored: it is short, and it is all the list needs.
func summarizeAgent(ua string) string {
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
