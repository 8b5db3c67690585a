package web_test

import (
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/sessionauth/authd/internal/browsertest"
)

// passkeySite is authd reached at http://localhost:PORT, its PUBLIC_URL:
// WebAuthn needs a host name (no IP address) in a secure context, which
// localhost is.
func passkeySite(t *testing.T) *site {
	t.Helper()
	b := browsertest.Start(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close() // authd listens on it next
	base := "http://localhost:" + port
	startAuthd(t, map[string]string{"LISTEN_ADDR": "127.0.0.1:" + port, "PUBLIC_URL": base})
	return &site{t: t, base: base, browser: b}
}

// TestPasskeysInBrowser registers a passkey in real Chromium with its
// virtual authenticator (CDP WebAuthn), signs in with it alone, uses it as
// the second step after the password, shows that a ceremony's answer
// works once, and renames and removes it.
func TestPasskeysInBrowser(t *testing.T) {
	s := passkeySite(t)
	d := s.device(t, browsertest.Desktop)
	auth := d.AddAuthenticator()

	d.open("/signup", "signup")
	d.Fill("#username", "pat")
	d.Fill("#password", "passkeys are nice")
	d.submit("main form button", "account-welcome")

	d.open("/account/2fa", "twofactor-empty")
	d.Fill("#passkey-name", "Laptop")
	if status := d.submit("form[data-passkey=register] button", "twofactor-passkey"); status != http.StatusOK {
		t.Fatalf("after registering: status %d", status)
	}
	d.wantAt("/account/2fa")
	if got := d.Text(".passkey-name"); got != "Laptop" {
		t.Fatalf("passkey list shows %q, want Laptop", got)
	}
	creds := auth.Credentials()
	if len(creds) != 1 || !creds[0].IsResidentCredential || creds[0].RpID != "localhost" {
		t.Fatalf("authenticator holds %+v, want one discoverable credential for localhost", creds)
	}

	// A passkey alone: no user name, no password.
	d.submit("header form button", "home-signed-out")
	d.open("/login", "login-passkey")
	d.submit("form[data-passkey=login] button", "account-passkey")
	d.wantAt("/account")
	if got := d.Text("main dl"); !strings.Contains(got, "with passkey") {
		t.Fatalf("account page after passkey sign-in: %q, want 'with passkey'", got)
	}

	// An account with a passkey gets a second step after its password.
	d.submit("header form button", "home-signed-out")
	d.open("/login", "login")
	d.Fill("#username", "pat")
	d.Fill("#password", "passkeys are nice")
	d.submit("form[action='/login'] button[type=submit]", "second-step")
	d.wantAt("/login/2fa")
	if status := d.Open(s.base + "/account"); status != http.StatusOK || !strings.HasPrefix(d.path(), "/login?") {
		t.Fatalf("pending session opened /account: status %d at %s, want the sign-in page", status, d.path())
	}
	d.open("/login/2fa", "second-step")
	d.submit("form[data-passkey=login] button", "account-two-step")
	d.wantAt("/account")
	if got := d.Text("main dl"); !strings.Contains(got, "with password and passkey") {
		t.Fatalf("account page after the two steps: %q, want 'with password and passkey'", got)
	}

	// A ceremony's answer works once: the same signed assertion, posted
	// twice, signs in the first time only (single-use challenge in Redis).
	d.submit("header form button", "home-signed-out")
	d.open("/login", "login")
	statuses := browsertest.EvalAsync[[]int](d.Page, `(async () => {
		const h = {"Content-Type": "application/json", "Accept": "application/json"};
		const o = await (await fetch("/login/passkey/options", {method: "POST", headers: h, body: "{}"})).json();
		const c = await navigator.credentials.get({publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(o.publicKey)});
		const body = JSON.stringify({ceremony: o.ceremony, credential: c.toJSON()});
		const post = () => fetch("/login/passkey", {method: "POST", headers: h, body}).then(r => r.status);
		const first = await post();
		await fetch("/logout", {method: "POST", headers: h});
		return [first, await post()];
	})()`)
	if len(statuses) != 2 || statuses[0] != http.StatusOK || statuses[1] != http.StatusUnauthorized {
		t.Fatalf("one assertion posted twice: statuses %v, want [200 401]", statuses)
	}
	// The refused replay is the one error the console saw.
	if p := d.Problems(); len(p) != 1 || !strings.Contains(p[0], "401") || !strings.Contains(p[0], "/login/passkey") {
		t.Fatalf("console after the replay: %q, want the one 401 of /login/passkey", p)
	}

	// Rename and remove.
	d.open("/login", "login")
	d.submit("form[data-passkey=login] button", "account-passkey")
	d.open("/account/2fa", "twofactor-passkey")
	id := browsertest.Eval[string](d.Page, `document.querySelector(".passkey-name").closest("tr").querySelector("input[name=passkey_name]").id`)
	d.Fill("#"+id, "Work laptop")
	d.submit("form[action$='/rename'] button", "twofactor-renamed")
	if got := d.Text(".passkey-name"); got != "Work laptop" {
		t.Fatalf("after rename: %q", got)
	}
	d.submit("form[action$='/remove'] button", "twofactor-removed")
	if n := d.Count(".passkey-name"); n != 0 {
		t.Fatalf("%d passkeys after removing the only one", n)
	}
	// The password alone signs in again.
	d.submit("header form button", "home-signed-out")
	d.open("/login", "login")
	d.signIn("pat", "passkeys are nice", false)
	d.wantAt("/account")
}
