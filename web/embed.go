// Package web holds the HTML templates and static assets, embedded in the
// binary so that one file is the whole server.
package web

import "embed"

// Files holds templates/*.html (a base layout plus one file per page) and
// static/ (CSS).
//
//go:embed templates/*.html static
var Files embed.FS
