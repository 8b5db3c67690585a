package cli

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sessionauth/authd/internal/testenv"
)

// selfSigned writes an ECDSA certificate for 127.0.0.1 and its key, and
// returns their paths and a pool trusting it.
func selfSigned(t *testing.T) (certFile, keyFile string, roots *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "authd test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	roots = x509.NewCertPool()
	roots.AddCert(cert)
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, roots
}

// Serving TLS itself, authd offers TLS 1.2 and 1.3 only, AEAD suites only in
// TLS 1.2, and sends HSTS by default (without includeSubDomains); with
// COOKIE_HOST_PREFIX its cookies are __Host- ones. Checked with real
// handshakes of Go's TLS client against the whole program.
func TestServeTLS(t *testing.T) {
	certFile, keyFile, roots := selfSigned(t)
	r := testenv.StartRedis(t)
	p := newProgram(t, map[string]string{
		"DATABASE_URL":       testenv.SQLiteURL(t),
		"REDIS_URL":          r.URL,
		"BCRYPT_COST":        "10",
		"LISTEN_ADDR":        "127.0.0.1:0",
		"TLS_CERT_FILE":      certFile,
		"TLS_KEY_FILE":       keyFile,
		"COOKIE_HOST_PREFIX": "true",
	})
	p.addUser("alice", "correct horse")
	base, _ := p.serve()
	if !strings.HasPrefix(base, "https://") {
		t.Fatalf("serving TLS at %s", base)
	}
	addr := strings.TrimPrefix(base, "https://")

	handshake := func(cfg *tls.Config) (tls.ConnectionState, error) {
		t.Helper()
		cfg.RootCAs = roots
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr, cfg)
		if err != nil {
			return tls.ConnectionState{}, err
		}
		defer conn.Close()
		return conn.ConnectionState(), nil
	}
	cbc := []uint16{
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256,
		tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA,
	}
	if st, err := handshake(&tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: cbc}); err == nil {
		t.Errorf("a TLS 1.2 client offering only CBC suites connected with %s", tls.CipherSuiteName(st.CipherSuite))
	}
	for _, v := range []uint16{tls.VersionTLS10, tls.VersionTLS11} {
		if st, err := handshake(&tls.Config{MinVersion: v, MaxVersion: v}); err == nil {
			t.Errorf("a %s client connected", tls.VersionName(st.Version))
		}
	}
	for _, suite := range []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256} {
		st, err := handshake(&tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{suite}})
		if err != nil || st.Version != tls.VersionTLS12 || st.CipherSuite != suite {
			t.Errorf("TLS 1.2 with %s: %v (got %s)", tls.CipherSuiteName(suite), err, tls.CipherSuiteName(st.CipherSuite))
		}
	}
	if st, err := handshake(&tls.Config{MinVersion: tls.VersionTLS13}); err != nil || st.Version != tls.VersionTLS13 {
		t.Errorf("TLS 1.3: %v", err)
	}

	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("Strict-Transport-Security"); got != "max-age=63072000" {
		t.Errorf("Strict-Transport-Security %q, want max-age=63072000 by default over TLS", got)
	}

	resp, err = c.PostForm(base+"/login", url.Values{"username": {"alice"}, "password": {"correct horse"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	names := map[string]bool{}
	for _, ck := range resp.Cookies() {
		names[ck.Name] = true
		if !strings.HasPrefix(ck.Name, "__Host-") || !ck.Secure || ck.Path != "/" || ck.Domain != "" || !ck.HttpOnly {
			t.Errorf("cookie %+v: want a __Host- cookie (Secure, Path=/, no Domain), HttpOnly", ck)
		}
	}
	if resp.StatusCode != http.StatusSeeOther || !names["__Host-session_id"] || !names["__Host-device_token"] {
		t.Fatalf("sign-in over TLS: status %d, cookies %v", resp.StatusCode, names)
	}
	// The session works under its prefixed name; a planted plain
	// session_id is not the session cookie at all.
	req, _ := http.NewRequest(http.MethodGet, base+"/api/me", nil)
	req.Header.Set("Cookie", "session_id="+strings.Repeat("A", 43))
	for _, ck := range jar.Cookies(req.URL) {
		req.AddCookie(ck)
	}
	resp, err = (&http.Client{Timeout: 30 * time.Second, Transport: c.Transport}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var me struct {
		User struct{ Name string } `json:"user"`
	}
	err = json.NewDecoder(resp.Body).Decode(&me)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || me.User.Name != "alice" {
		t.Fatalf("/api/me with the __Host- cookie: status %d, %v, %+v", resp.StatusCode, err, me)
	}
}
