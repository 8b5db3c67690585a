package browsertest

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp/kb"
)

// strictCSP is authd's policy: no script at all, styles from the origin.
const strictCSP = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// fixture serves small pages, good and bad, under the strict CSP.
func fixture(t *testing.T) *httptest.Server {
	pages := map[string]string{
		"/good": `<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Good</title>
<link rel="stylesheet" href="/style.css"><link rel="icon" href="/icon.svg"></head>
<body><main><h1>Good</h1><form method="post" action="/next"><label for="a">A</label><input id="a" name="a">
<label for="b">B</label><input id="b" name="b"><button type="submit">Go</button></form></main></body></html>`,
		// An inline style and an inline script (both refused by the CSP),
		// an image without alt text, low contrast, a 900 px wide block, and
		// no favicon (so the browser's /favicon.ico request fails).
		"/bad": `<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Bad</title>
<link rel="stylesheet" href="/style.css"></head>
<body><main><h1 style="color:red">Bad</h1><script>console.error("ran")</script>
<img src="/icon.svg"><p class="faint">faint text</p><div class="wide">wide</div></main></body></html>`,
		"/next": `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Next</title>
<link rel="icon" href="/icon.svg"></head><body><main><h1>Next</h1></main></body></html>`,
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", strictCSP)
		switch r.URL.Path {
		case "/style.css":
			w.Header().Set("Content-Type", "text/css")
			_, _ = w.Write([]byte(`body { background: #fff; color: #111 }
@media (prefers-color-scheme: dark) { body { background: rgb(0, 0, 0); color: #eee } }
.faint { color: #ccc } .wide { width: 900px }`))
		case "/icon.svg":
			w.Header().Set("Content-Type", "image/svg+xml")
			_, _ = w.Write([]byte(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 1 1"><rect width="1" height="1"/></svg>`))
		default:
			page, ok := pages[r.URL.Path]
			if !ok {
				http.NotFound(w, r)
				return
			}
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			_, _ = w.Write([]byte(page))
		}
	})
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return ts
}

// The checks the page tests rely on must fail on a bad page, and pass on
// a good one: otherwise a clean result would prove nothing.
func TestHarnessCatchesWhatItChecks(t *testing.T) {
	b := Start(t)
	ts := fixture(t)

	good := b.NewPage(t, Phone)
	if status := good.Open(ts.URL + "/good"); status != http.StatusOK {
		t.Fatalf("good page: status %d", status)
	}
	if p := good.Problems(); len(p) > 0 {
		t.Errorf("good page: problems %q", p)
	}
	if is := good.Issues(); len(is) > 0 {
		t.Errorf("good page: DevTools issues %q", is)
	}
	if v := good.Axe("minor"); len(v) > 0 {
		t.Errorf("good page: axe violations %v", v)
	}
	if o := good.HorizontalOverflow(); o != 0 {
		t.Errorf("good page at 375 px overflows by %d px", o)
	}

	bad := b.NewPage(t, Phone)
	bad.Open(ts.URL + "/bad")
	// The browser asks for /favicon.ico after the load event: wait for it.
	var got []string
	deadline := time.Now().Add(Timeout)
	for !strings.Contains(strings.Join(got, "\n"), "favicon.ico") && time.Now().Before(deadline) {
		got = append(got, bad.Problems()...)
		time.Sleep(10 * time.Millisecond)
	}
	problems := strings.Join(got, "\n")
	for _, want := range []string{"style-src", "script-src", "favicon.ico"} {
		if !strings.Contains(problems, want) {
			t.Errorf("bad page: problems lack %q:\n%s", want, problems)
		}
	}
	if issues := strings.Join(bad.Issues(), "\n"); !strings.Contains(issues, "CSP violation of style-src-attr") {
		t.Errorf("bad page: DevTools issues lack the inline style's CSP violation:\n%s", issues)
	}
	if strings.Contains(problems, "console.error: ran") {
		t.Errorf("the inline script ran despite the CSP:\n%s", problems)
	}
	var ids []string
	for _, v := range bad.Axe("moderate") {
		ids = append(ids, v.ID)
	}
	for _, want := range []string{"image-alt", "color-contrast"} {
		if !slices.Contains(ids, want) {
			t.Errorf("bad page: axe found %v, want %s among them", ids, want)
		}
	}
	if o := bad.HorizontalOverflow(); o < 900-375 {
		t.Errorf("bad page at 375 px overflows by %d px, want at least %d", o, 900-375)
	}
	// Axe's own injection is no CSP violation.
	if p := bad.Problems(); len(p) > 0 {
		t.Errorf("bad page after the axe scan: new problems %q", p)
	}
}

func TestHarnessEmulatesAndTypes(t *testing.T) {
	b := Start(t)
	ts := fixture(t)
	p := b.NewPage(t, Desktop)
	p.Open(ts.URL + "/good")
	background := func() string {
		return Eval[string](p, `getComputedStyle(document.body).backgroundColor`)
	}
	if bg := background(); bg != "rgb(255, 255, 255)" {
		t.Errorf("light: background %s", bg)
	}
	p.Emulate(Desktop.Dark())
	if bg := background(); bg != "rgb(0, 0, 0)" {
		t.Errorf("dark: background %s", bg)
	}
	if w := Eval[int](p, `window.innerWidth`); w != 1280 {
		t.Errorf("desktop width %d", w)
	}

	// Keyboard only: tab to the first field, type, tab on, submit with Enter.
	p.Press(kb.Tab)
	if f := p.Focused(); f != "#a" {
		t.Fatalf("after one Tab the focus is on %s, want #a", f)
	}
	p.Press("x")
	p.Press(kb.Tab)
	p.Press("y")
	if status := p.PressAndWait(kb.Enter); status != http.StatusOK || !strings.HasSuffix(p.Location(), "/next") {
		t.Fatalf("Enter in the form: status %d at %s", status, p.Location())
	}

	// Browser contexts keep their cookies apart.
	one, two := b.NewPage(t, Desktop), b.NewPage(t, Desktop)
	one.Open(ts.URL + "/good")
	two.Open(ts.URL + "/good")
	Eval[string](one, `document.cookie = "k=v; path=/"`)
	if n := len(one.Cookies()); n != 1 {
		t.Errorf("first context holds %d cookies, want 1", n)
	}
	if n := len(two.Cookies()); n != 0 {
		t.Errorf("second context holds %d cookies, want 0", n)
	}
}
