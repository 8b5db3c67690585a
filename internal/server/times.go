package server

import (
	"math"
	"strconv"
	"time"
)

// moment is a point in time as a page shows it: relative words, rendered
// here on the server (the pages run no script), with the exact time for
// machines and in a tooltip.
type moment struct {
	ISO      string // the <time datetime>: RFC 3339 in UTC
	Absolute string // the title: "2026-11-23 18:33 UTC"
	Relative string // the text: "5 minutes ago", "in 7 days"
}

// when describes t as seen at now.
func when(t, now time.Time) moment {
	return moment{
		ISO:      t.UTC().Format(time.RFC3339),
		Absolute: t.UTC().Format("2006-01-02 15:04 UTC"),
		Relative: relative(t, now),
	}
}

// relative says how far t is from now in the largest whole unit: minutes,
// hours or days, then the date. Past times round down ("5 minutes ago" for
// 5m59s, as a clock reads); future ones round to the nearest unit, so that
// a deadline 30 minutes out, seen a moment later, still reads "in 30 minutes".
func relative(t, now time.Time) string {
	d := now.Sub(t)
	past := d >= 0
	if !past {
		d = -d
	}
	round := math.Floor
	if !past {
		round = math.Round
	}
	if d < time.Minute {
		if past {
			return "just now"
		}
		return "in less than a minute"
	}
	var n int
	var unit string
	switch mins := round(d.Minutes()); {
	case mins < 60:
		n, unit = int(mins), "minute"
	case round(d.Hours()) < 24:
		n, unit = int(round(d.Hours())), "hour"
	case round(d.Hours()/24) <= 30:
		n, unit = int(round(d.Hours()/24)), "day"
	default:
		// Far enough that a date says more than a count. No hyphens, so
		// it never breaks across lines where a narrow column wraps.
		return t.UTC().Format("2 Jan 2006")
	}
	s := strconv.Itoa(n) + " " + unit
	if n != 1 {
		s += "s"
	}
	if past {
		return s + " ago"
	}
	return "in " + s
}
