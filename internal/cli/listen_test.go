package cli

import (
	"net"
	"net/http"
	"strconv"
	"testing"
)

// "localhost" is served on both loopback addresses, as the README promises
// http://localhost:8080 and a browser may resolve it to [::1] first.
func TestListenLocalhostBothFamilies(t *testing.T) {
	t.Parallel()
	ln, also, err := listen("localhost:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	hosts := []string{"127.0.0.1"}
	if len(also) == 0 {
		if c, err := net.Listen("tcp6", "[::1]:0"); err == nil {
			c.Close()
			t.Fatal("this machine has IPv6 loopback, but localhost was not served on [::1]")
		}
	} else {
		hosts = append(hosts, "[::1]")
		if also[0].(*net.TCPAddr).Port != ln.Addr().(*net.TCPAddr).Port {
			t.Errorf("[::1] on port %v, 127.0.0.1 on %v: want the same port", also[0], ln.Addr())
		}
	}
	for _, h := range hosts {
		resp, err := http.Get("http://" + h + ":" + port + "/")
		if err != nil {
			t.Fatalf("GET on %s: %v", h, err)
		}
		resp.Body.Close()
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != http.ErrServerClosed {
		t.Fatalf("Serve returned %v after Close, want ErrServerClosed", err)
	}
}
