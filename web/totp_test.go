package web_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/sessionauth/authd/internal/browsertest"
)

// TestTOTPInBrowser sets up an authenticator app through the pages (the
// QR code loads under the strict CSP), keeps the recovery codes shown
// once, signs in with the password and a recovery code, and sees the
// step-up page. Every page is held to the same bar as the others (axe,
// console, CSP, DevTools issues), in light and dark.
func TestTOTPInBrowser(t *testing.T) {
	s := newSite(t)
	for _, dev := range []browsertest.Device{browsertest.Desktop, browsertest.Phone} {
		t.Run(dev.String(), func(t *testing.T) {
			d := s.device(t, dev)
			name := "tess" + strings.Fields(dev.String())[0]
			d.open("/signup", "signup")
			d.Fill("#username", name)
			d.Fill("#password", "codes on my phone")
			d.submit("main form button", "account-welcome")

			d.open("/account/2fa", "twofactor-empty")
			d.submit("form[action='/account/2fa/totp'] button", "totp-setup")
			d.wantAt("/account/2fa/totp")
			if w := browsertest.Eval[int](d.Page, `document.querySelector("main img").naturalWidth`); w == 0 {
				t.Fatal("the QR code did not load")
			}
			secret := strings.ReplaceAll(d.Text("#secret"), " ", "")
			code, err := totp.GenerateCode(secret, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			d.Fill("#code", code)
			if status := d.submit("main form button", "recovery-new"); status != http.StatusOK {
				t.Fatalf("confirming the first code: status %d", status)
			}
			codes := browsertest.Eval[[]string](d.Page, `[...document.querySelectorAll(".codes code")].map(c => c.textContent)`)
			if len(codes) != 10 {
				t.Fatalf("%d recovery codes shown, want 10", len(codes))
			}
			d.open("/account/2fa", "twofactor-totp")

			d.submit("header form button", "home-signed-out")
			d.open("/login", "login")
			d.signIn(name, "codes on my phone", false) // checks the page it lands on
			d.wantAt("/login/2fa")
			d.Click("summary")
			d.Fill("#recovery_code", codes[0])
			d.submit("details form button", "account-recovery")
			d.wantAt("/account")
			if got := d.Text("main dl"); !strings.Contains(got, "with password and recovery code") {
				t.Fatalf("account page: %q, want 'with password and recovery code'", got)
			}
			d.open("/account/2fa/recovery", "recovery-left")
			if got := d.Text("main p"); !strings.Contains(got, "9 of 10") {
				t.Fatalf("recovery page says %q, want 9 of 10 left", got)
			}
			d.open("/account/reauth?next=%2Faccount%2F2fa", "reauth")
			d.Fill("#password", "codes on my phone")
			d.submit("form[action='/account/reauth'] button", "twofactor-after-reauth")
			d.wantAt("/account/2fa")
		})
	}
}
