// Package web holds the HTML templates and static assets, embedded in the
// binary so that one file is the whole server.
package web

import "embed"

// Files holds templates/*.html (a base layout plus one file per page),
// templates/mail (each e-mail as NAME.txt and NAME.html) and
// static/ (CSS).
//
//go:embed templates/*.html templates/mail static
var Files embed.FS
