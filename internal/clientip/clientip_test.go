package clientip_test

import (
	"net/http/httptest"
	"testing"

	"github.com/sessionauth/authd/internal/clientip"
)

func TestAddr(t *testing.T) {
	none, _ := clientip.New(nil)
	proxies, err := clientip.New([]string{"10.0.0.0/8", "127.0.0.1", "::1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		res  *clientip.Resolver
		peer string
		xff  []string
		want string
	}{
		{"no proxies: header ignored", none, "198.51.100.7:5000", []string{"203.0.113.9"}, "198.51.100.7"},
		{"untrusted peer: header ignored", proxies, "198.51.100.7:5000", []string{"203.0.113.9"}, "198.51.100.7"},
		{"trusted peer: rightmost untrusted hop", proxies, "127.0.0.1:5000", []string{"6.6.6.6, 203.0.113.9"}, "203.0.113.9"},
		{"chain of proxies skipped", proxies, "10.1.1.1:80", []string{"203.0.113.9, 10.2.2.2", "10.3.3.3"}, "203.0.113.9"},
		{"spoofed leftmost entry ignored", proxies, "10.1.1.1:80", []string{"1.1.1.1", "203.0.113.9"}, "203.0.113.9"},
		{"garbage stops the walk", proxies, "10.1.1.1:80", []string{"203.0.113.9, nonsense, 10.2.2.2"}, "10.2.2.2"},
		{"no header: the proxy itself", proxies, "[::1]:80", nil, "::1"},
		{"ip:port", proxies, "10.1.1.1:80", []string{"203.0.113.9:4711"}, "203.0.113.9"},
		{"[v6]:port", proxies, "10.1.1.1:80", []string{"[2001:db8::9]:443"}, "2001:db8::9"},
		{"trusted hop with a port skipped", proxies, "10.1.1.1:80", []string{"203.0.113.9, 10.2.2.2:8080"}, "203.0.113.9"},
		{"mapped v4 with a port", proxies, "10.1.1.1:80", []string{"[::ffff:203.0.113.9]:1"}, "203.0.113.9"},
		{"empty port refused", proxies, "10.1.1.1:80", []string{"203.0.113.9:"}, "10.1.1.1"},
		{"brackets without a port refused", proxies, "10.1.1.1:80", []string{"[2001:db8::9]"}, "10.1.1.1"},
		{"port out of range refused", proxies, "10.1.1.1:80", []string{"203.0.113.9:65536"}, "10.1.1.1"},
		{"host name refused", proxies, "10.1.1.1:80", []string{"client.example:80"}, "10.1.1.1"},
		{"bare v6 with a port-like tail is an address", proxies, "10.1.1.1:80", []string{"2001:db8::9:443"}, "2001:db8::9:443"},
		{"mapped v4 unmapped", none, "[::ffff:192.0.2.1]:80", nil, "192.0.2.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tc.peer
			for _, v := range tc.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := tc.res.Addr(r); got != tc.want {
				t.Errorf("Addr = %q, want %q", got, tc.want)
			}
		})
	}
	if _, err := clientip.New([]string{"not-a-net"}); err == nil {
		t.Error("New accepted a bad proxy")
	}
}
