package config

import (
	"slices"
	"strings"
	"testing"
)

func TestSentinelSettings(t *testing.T) {
	c, err := load(nil, map[string]string{
		"REDIS_SENTINEL_ADDRS":    " 10.0.0.1:26379, sentinel-b:26379 ,,[::1]:26380",
		"REDIS_SENTINEL_MASTER":   "authd",
		"REDIS_SENTINEL_PASSWORD": "s3cret",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"10.0.0.1:26379", "sentinel-b:26379", "[::1]:26380"}
	if !slices.Equal(c.Redis.SentinelAddrs, want) || c.Redis.SentinelMaster != "authd" || c.Redis.SentinelPassword != "s3cret" {
		t.Fatalf("sentinel settings: %q %q %q", c.Redis.SentinelAddrs, c.Redis.SentinelMaster, c.Redis.SentinelPassword)
	}

	c, err = load([]string{"-redis-sentinel-addrs", "127.0.0.1:26379", "-redis-sentinel-master", "m"}, nil)
	if err != nil || !slices.Equal(c.Redis.SentinelAddrs, []string{"127.0.0.1:26379"}) || c.Redis.SentinelMaster != "m" {
		t.Fatalf("sentinel flags: %v, %q %q", err, c.Redis.SentinelAddrs, c.Redis.SentinelMaster)
	}

	c, err = load(nil, nil)
	if err != nil || c.Redis.SentinelAddrs != nil || c.Redis.SentinelMaster != "" || c.Redis.SentinelPassword != "" {
		t.Fatalf("sentinel is off by default: %v, %+v", err, c.Redis)
	}
}

func TestSentinelSettingsChecked(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"REDIS_SENTINEL_ADDRS": "a:26379"}, "REDIS_SENTINEL_MASTER is required when REDIS_SENTINEL_ADDRS is set"},
		{map[string]string{"REDIS_SENTINEL_MASTER": "m"}, "REDIS_SENTINEL_ADDRS is required when REDIS_SENTINEL_MASTER is set"},
		{map[string]string{"REDIS_SENTINEL_PASSWORD": "p"}, "REDIS_SENTINEL_PASSWORD is set but REDIS_SENTINEL_ADDRS is not"},
		{map[string]string{"REDIS_SENTINEL_ADDRS": "a:26379,b", "REDIS_SENTINEL_MASTER": "m"}, `REDIS_SENTINEL_ADDRS: sentinel address "b": want host:port`},
		{map[string]string{"REDIS_SENTINEL_ADDRS": ":26379", "REDIS_SENTINEL_MASTER": "m"}, `sentinel address ":26379"`},
	} {
		_, err := load(nil, tc.env)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want it to say %q", tc.env, err, tc.want)
		}
	}
}
