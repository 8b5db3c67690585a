package browsertest

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/cdproto/audits"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// Device is what a page emulates: a viewport and a color scheme.
type Device struct {
	Width, Height int64
	// Mobile makes the page honour <meta name=viewport> and emulates touch,
	// as a phone would.
	Mobile bool
	// ColorScheme is "light" or "dark" (prefers-color-scheme); "" is the
	// browser's default, light.
	ColorScheme string
	// UserAgent, when set, replaces the browser's User-Agent header (a
	// phone's, say, so that the server sees "Safari on iOS").
	UserAgent string
}

// Desktop and Phone are the two devices the browser tests use.
var (
	Desktop = Device{Width: 1280, Height: 800}
	Phone   = Device{Width: 375, Height: 812, Mobile: true}
)

// Dark returns d with the dark color scheme.
func (d Device) Dark() Device { d.ColorScheme = "dark"; return d }

// String names the device in test and screenshot names: "1280-light".
func (d Device) String() string {
	s := d.ColorScheme
	if s == "" {
		s = "light"
	}
	return fmt.Sprintf("%d-%s", d.Width, s)
}

// Page is one tab in a browser context of its own: a device with its own
// cookies. Its methods fail the test when the browser fails.
type Page struct {
	t   testing.TB
	ctx context.Context

	mu       sync.Mutex
	problems []string // console errors, exceptions, failed loads, CSP violations
	issues   []string // every DevTools issue (CSP violations are also problems)
	document string   // URL of the main frame's document
}

// NewPage opens a tab in a new browser context, emulating d. It closes
// when the test ends.
func (b *Browser) NewPage(t testing.TB, d Device) *Page {
	t.Helper()
	p := &Page{t: t}
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext(), chromedp.WithListener(p.listen))
	t.Cleanup(cancel)
	p.ctx = ctx
	// The first action opens the tab and ties its life to the context it
	// gets, so it must be one without a deadline.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("open a tab: %v", err)
	}
	p.do(chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, audits.Enable, cdp.Empty{})
		return err
	}))
	p.Emulate(d)
	return p
}

// listen runs on the browser's reader goroutine for every event of the
// tab, in order, before the reply to any later command is delivered: once
// an action has returned, what the page logged during it is recorded.
func (p *Page) listen(ev any) {
	var problem, issue string
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeAssert {
			var args []string
			for _, a := range ev.Args {
				if a.Value != nil {
					args = append(args, string(a.Value))
				} else {
					args = append(args, a.Description)
				}
			}
			problem = "console." + string(ev.Type) + ": " + strings.Join(args, " ")
		}
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		msg := d.Text
		if d.Exception != nil {
			msg += " " + d.Exception.Description
		}
		problem = fmt.Sprintf("uncaught exception at %s:%d: %s", d.URL, d.LineNumber+1, msg)
	case *page.EventFrameNavigated:
		if ev.Frame.ParentID == "" {
			p.mu.Lock()
			p.document = ev.Frame.URL
			p.mu.Unlock()
		}
	case *log.EventEntryAdded:
		e := ev.Entry
		p.mu.Lock()
		document := p.document
		p.mu.Unlock()
		switch {
		case e.Source == log.EntrySourceNetwork && e.URL == document:
			// The document's own HTTP status (a 422 form, a 404 page):
			// the test sees it from Open or Submit, and may want it.
		case e.Level == log.EntryLevelError || e.Source == log.EntrySourceSecurity:
			// Errors (a failed load, such as a missing favicon) and
			// anything the security layer says (a CSP violation).
			problem = fmt.Sprintf("%s %s: %s (%s)", e.Source, e.Level, e.Text, e.URL)
		}
	case *audits.EventIssueAdded:
		issue = string(ev.Issue.Code)
		if d := ev.Issue.Details; d != nil && d.GenericIssueDetails != nil {
			issue += fmt.Sprintf(" %s (node %d)", d.GenericIssueDetails.ErrorType, d.GenericIssueDetails.ViolatingNodeID)
		}
		if d := ev.Issue.Details; d != nil && d.ContentSecurityPolicyIssueDetails != nil {
			c := d.ContentSecurityPolicyIssueDetails
			issue = fmt.Sprintf("CSP violation of %s (%s) %s", c.ViolatedDirective, c.ContentSecurityPolicyViolationType, c.BlockedURL)
			problem = issue
		}
	}
	if problem == "" && issue == "" {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if problem != "" {
		p.problems = append(p.problems, problem)
	}
	if issue != "" {
		p.issues = append(p.issues, issue)
	}
}

// Problems returns the console errors, uncaught exceptions, failed loads
// and CSP violations since the last call, and forgets them.
func (p *Page) Problems() []string {
	p.t.Helper()
	p.sync()
	p.mu.Lock()
	defer p.mu.Unlock()
	out := p.problems
	p.problems = nil
	return out
}

// Issues returns every DevTools issue the page raised since the last call
// (CSP violations, cookie and form problems), and forgets them.
func (p *Page) Issues() []string {
	p.t.Helper()
	p.sync()
	p.mu.Lock()
	defer p.mu.Unlock()
	out := p.issues
	p.issues = nil
	return out
}

// sync makes one round trip to the tab, so that the events sent before it
// have been through listen.
func (p *Page) sync() {
	p.t.Helper()
	p.do(chromedp.Evaluate[chromedp.Void](`0`))
}

// do runs actions, each bounded by Timeout, and fails the test on error.
func (p *Page) do(actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, Timeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		p.t.Fatalf("browser: %v", err)
	}
}

// run runs one action with a result, bounded by Timeout.
func run[T any](p *Page, a chromedp.Action[T]) T {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, Timeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		p.t.Fatalf("browser: %v", err)
	}
	return v
}

// Emulate switches the page to device d; the page re-lays itself out at
// once, and later navigations keep it.
func (p *Page) Emulate(d Device) {
	p.t.Helper()
	var opts []chromedp.EmulateViewportOption
	if d.Mobile {
		opts = append(opts, chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulatePortrait)
	}
	p.do(chromedp.EmulateViewport(d.Width, d.Height, opts...), colorScheme(d.ColorScheme), userAgent(d.UserAgent))
}

// userAgent overrides the User-Agent header; "" keeps the browser's.
func userAgent(ua string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		if ua == "" {
			return nil
		}
		_, err := cdp.Call(ctx, t, emulation.SetUserAgentOverride, emulation.SetUserAgentOverrideParams{UserAgent: ua})
		return err
	})
}

// colorScheme emulates prefers-color-scheme.
func colorScheme(scheme string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		params := emulation.SetEmulatedMediaParams{}
		if scheme != "" {
			params.Features = []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}
		}
		_, err := cdp.Call(ctx, t, emulation.SetEmulatedMedia, params)
		return err
	})
}

// Open loads url and returns the HTTP status of the document.
func (p *Page) Open(url string) int64 {
	p.t.Helper()
	resp := run(p, chromedp.NavigateResponse(url))
	if resp == nil {
		p.t.Fatalf("open %s: no response", url)
	}
	return resp.Status
}

// Submit clicks the element (a submit button) and waits for the page that
// follows, after any redirects; it returns that page's HTTP status.
func (p *Page) Submit(sel string) int64 {
	p.t.Helper()
	return p.navigate(chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
}

// PressAndWait sends keys to the focused element (kb.Enter on a form
// field, say) and waits for the page that follows.
func (p *Page) PressAndWait(keys string) int64 {
	p.t.Helper()
	return p.navigate(chromedp.KeyEvent(keys))
}

func (p *Page) navigate(trigger chromedp.Action[chromedp.Void]) int64 {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, Timeout)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, trigger)
	if err != nil {
		p.t.Fatalf("browser: %v", err)
	}
	if resp == nil {
		p.t.Fatal("browser: the action loaded no page")
	}
	return resp.Status
}

// Fill replaces the value of a form field by typing text into it. The
// field is emptied through its value property, not with chromedp.Clear:
// Clear sets the value attribute, and the DOM event that comes back races
// with SendKeys reading the node's attributes inside chromedp (v0.23.1,
// query.go reads n.Attributes before taking the node's lock), which the
// race detector caught in CI.
func (p *Page) Fill(sel, text string) {
	p.t.Helper()
	quoted, _ := json.Marshal(sel) // a JavaScript string literal
	empty := chromedp.Evaluate[chromedp.Void](`void (document.querySelector(` + string(quoted) + `).value = "")`)
	p.do(chromedp.WaitReady(chromedp.CSS(sel)), empty, chromedp.SendKeys(chromedp.CSS(sel), text))
}

// Click clicks the first element matching the CSS selector, with no wait
// for a navigation (see Submit).
func (p *Page) Click(sel string) {
	p.t.Helper()
	p.do(chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
}

// Press sends keys (see package kb) to whatever has the focus, as a
// keyboard would.
func (p *Page) Press(keys string) {
	p.t.Helper()
	p.do(chromedp.KeyEvent(keys))
}

// Focused describes the element that has the focus: "#id", "tag[name=x]",
// "a:Link text", or "body".
func (p *Page) Focused() string {
	p.t.Helper()
	// Chromium applies autofocus in a rendering update after the load, not
	// during it: two animation frames later it has, however slow the machine.
	return run(p, chromedp.Evaluate[string](`new Promise(done => requestAnimationFrame(() => requestAnimationFrame(() => {
		const e = document.activeElement;
		if (!e || e === document.body) return done("body");
		if (e.id) return done("#" + e.id);
		if (e.name) return done(e.tagName.toLowerCase() + "[name=" + e.name + "]");
		done(e.tagName.toLowerCase() + ":" + e.textContent.trim());
	})))`, chromedp.EvalAwaitPromise))
}

// Text returns the visible text of the first element matching the CSS
// selector, waiting for it to be there.
func (p *Page) Text(sel string) string {
	p.t.Helper()
	return run(p, chromedp.Text(chromedp.CSS(sel), chromedp.NodeReady))
}

// Count returns how many elements match the CSS selector now.
func (p *Page) Count(sel string) int {
	p.t.Helper()
	return Eval[int](p, fmt.Sprintf(`document.querySelectorAll(%q).length`, sel))
}

// Location returns the URL of the page.
func (p *Page) Location() string {
	p.t.Helper()
	return run(p, chromedp.Location())
}

// Title returns the document's title.
func (p *Page) Title() string {
	p.t.Helper()
	return run(p, chromedp.Title())
}

// HorizontalOverflow returns by how many CSS pixels the page is wider than
// its viewport: more than 0 means it scrolls sideways.
func (p *Page) HorizontalOverflow() int {
	p.t.Helper()
	return Eval[int](p, `Math.max(document.documentElement.scrollWidth, document.body.scrollWidth) - document.documentElement.clientWidth`)
}

// Cookies returns the cookies the page's browser context holds for its URL.
func (p *Page) Cookies() []*network.Cookie {
	p.t.Helper()
	return run(p, chromedp.Action[[]*network.Cookie](func(ctx context.Context, t *chromedp.Target) ([]*network.Cookie, error) {
		res, err := cdp.Call(ctx, t, network.GetCookies, network.GetCookiesParams{})
		return res.Cookies, err
	}))
}

// Screenshot saves a PNG of the whole page as NAME.png in the directory
// named by BROWSERTEST_SCREENSHOTS, and returns its path; without that
// variable it does nothing and returns "".
func (p *Page) Screenshot(name string) string {
	p.t.Helper()
	if screenshotDir() == "" {
		return ""
	}
	png := run(p, chromedp.FullScreenshot(100))
	path, err := writeScreenshot(name, png)
	if err != nil {
		p.t.Fatalf("screenshot %s: %v", name, err)
	}
	p.t.Logf("screenshot: %s", path)
	return path
}

// Eval evaluates a JavaScript expression in the page and decodes its
// value into a T.
func Eval[T any](p *Page, expr string) T {
	p.t.Helper()
	return run(p, chromedp.Evaluate[T](expr))
}

// EvalAsync evaluates a JavaScript expression whose value is a promise,
// waits for it, and decodes the result into a T.
func EvalAsync[T any](p *Page, expr string) T {
	p.t.Helper()
	return run(p, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
}
