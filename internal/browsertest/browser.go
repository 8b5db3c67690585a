// Package browsertest drives a real headless Chromium from tests, through
// the DevTools protocol (chromedp): one browser process per test, a fresh
// browser context (its own cookies and storage) per simulated device, with
// viewport and color-scheme emulation, collection of console errors and
// Content-Security-Policy violations, screenshots, and an axe-core
// accessibility scan injected into the page under test only.
//
// It starts nothing of authd: a test serves the handler or the whole
// program itself and points pages at its URL.
//
// Chromium is Debian's chromium package (.ci/run installs it). A test that
// calls Start is skipped when no Chromium is installed and CI is unset;
// under CI a missing browser fails the test.
package browsertest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Timeout bounds each browser action, from its start. It is generous
// because the machine may be busy with other tests; an action that waits
// for a condition returns as soon as it holds.
const Timeout = 60 * time.Second

// executables are the names Chromium goes by, Debian's first.
var executables = []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"}

// Browser is a headless Chromium process owned by one test.
type Browser struct {
	t   testing.TB
	ctx context.Context // the browser's own context: cancelled, it ends the process
}

// Executable returns the path of the installed Chromium, or "".
func Executable() string {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	for _, name := range executables {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// Start starts a headless Chromium with a fresh profile directory and stops
// it when the test ends. It skips the test when no Chromium is installed,
// unless CI is set, when it fails it.
func Start(t testing.TB) *Browser {
	t.Helper()
	exe := Executable()
	if exe == "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("chromium is not installed (apt-get install chromium), and CI is set: the browser tests must run")
		}
		t.Skip("chromium is not installed (apt-get install chromium); skipping the browser test")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.NoSandbox, // CI runs as root, where the sandbox cannot start
		chromedp.Headless,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-features", "Translate,OptimizationHints,MediaRouter,AutofillServerCommunication"),
		chromedp.Flag("password-store", "basic"),
		chromedp.Flag("use-mock-keychain", true),
		chromedp.Flag("force-color-profile", "srgb"),
		// Tests take their time on a busy machine; timers must not be
		// slowed for tabs Chromium thinks are in the background.
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.Flag("disable-backgrounding-occluded-windows", true),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc() // waits for the process to exit
	})
	// The first action starts the process; it must not carry a timeout,
	// which would end the browser with it.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start %s: %v", exe, err)
	}
	return &Browser{t: t, ctx: ctx}
}

// screenshotDir is where Screenshot writes, from BROWSERTEST_SCREENSHOTS;
// "" means screenshots are not written.
func screenshotDir() string { return os.Getenv("BROWSERTEST_SCREENSHOTS") }

// writeScreenshot saves a PNG under the screenshot directory.
func writeScreenshot(name string, png []byte) (string, error) {
	dir := screenshotDir()
	if dir == "" {
		return "", nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	safe := strings.Map(func(r rune) rune {
		if r == '/' || r == os.PathSeparator || r == ' ' {
			return '-'
		}
		return r
	}, name)
	path := filepath.Join(dir, safe+".png")
	return path, os.WriteFile(path, png, 0o644)
}
