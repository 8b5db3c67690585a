package browsertest

import (
	_ "embed"
	"fmt"
	"slices"
	"strings"

	"github.com/chromedp/chromedp"
)

// axeSource is axe-core, vendored from npm with its licence (testdata/axe).
// It is injected through DevTools into the page under test only.
//
//go:embed testdata/axe/axe.min.js
var axeSource string

// AxeVersion is the version of the vendored axe-core.
const AxeVersion = "4.14.1"

// AxeViolation is one rule that failed, with the elements that failed it.
type AxeViolation struct {
	ID      string    `json:"id"`
	Impact  string    `json:"impact"` // minor, moderate, serious or critical
	Help    string    `json:"help"`
	HelpURL string    `json:"helpUrl"`
	Nodes   []AxeNode `json:"nodes"`
}

// AxeNode is an element that failed a rule.
type AxeNode struct {
	Target  string `json:"target"` // a CSS selector
	HTML    string `json:"html"`
	Summary string `json:"summary"`
}

func (v AxeViolation) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s): %s", v.ID, v.Impact, v.Help)
	for _, n := range v.Nodes {
		fmt.Fprintf(&b, "\n\t%s: %s\n\t\t%s", n.Target, n.HTML, strings.ReplaceAll(n.Summary, "\n", "\n\t\t"))
	}
	return b.String()
}

// impacts orders axe's impact levels.
var impacts = []string{"minor", "moderate", "serious", "critical"}

// axeRun runs the WCAG 2.x A/AA rules and axe's best practices on the
// whole document (colour contrast included) and keeps what a test needs.
const axeRun = `axe.run(document, {
	runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]},
	resultTypes: ["violations"],
}).then(r => r.violations.map(v => ({
	id: v.id, impact: v.impact || "", help: v.help, helpUrl: v.helpUrl,
	nodes: v.nodes.map(n => ({target: n.target.join(" "), html: n.html, summary: n.failureSummary || ""})),
})))`

// Axe scans the page as it is now with axe-core and returns the violations
// whose impact is minImpact ("moderate", say) or worse.
func (p *Page) Axe(minImpact string) []AxeViolation {
	p.t.Helper()
	floor := slices.Index(impacts, minImpact)
	if floor < 0 {
		p.t.Fatalf("axe: unknown impact %q (want one of %v)", minImpact, impacts)
	}
	// Injected once per document; a navigation brings a fresh one.
	p.do(chromedp.Evaluate[chromedp.Void](`if (typeof window.axe === "undefined") {` + axeSource + "\n}"))
	all := run(p, chromedp.Evaluate[[]AxeViolation](axeRun, chromedp.EvalAwaitPromise))
	var out []AxeViolation
	for _, v := range all {
		if slices.Index(impacts, v.Impact) >= floor {
			out = append(out, v)
		}
	}
	return out
}
