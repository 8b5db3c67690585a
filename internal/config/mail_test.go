package config

import (
	"strings"
	"testing"
)

func TestMailSettings(t *testing.T) {
	c, err := load(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	// make run: no SMTP, links on this server's own address.
	if c.SMTPHost != "" || c.PublicBase() != "http://localhost:8080" || !c.NotifyNewDevice || c.PwnedPasswordsURL != "" {
		t.Fatalf("mail defaults: %+v, public base %q", c, c.PublicBase())
	}
	c, err = load(nil, map[string]string{"LISTEN_ADDR": "0.0.0.0:9000", "PUBLIC_URL": ""})
	if err != nil || c.PublicBase() != "http://localhost:9000" {
		t.Fatalf("public base %q, %v", c.PublicBase(), err)
	}
	c, err = load(nil, map[string]string{"PUBLIC_URL": "https://auth.example.com/", "SMTP_HOST": "mail.example.com"})
	if err != nil || c.PublicBase() != "https://auth.example.com" {
		t.Fatalf("public base %q, %v", c.PublicBase(), err)
	}

	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"SMTP_HOST": "mail.example.com"}, "PUBLIC_URL is required"},
		{map[string]string{"PUBLIC_URL": "auth.example.com"}, "PUBLIC_URL must look like"},
		{map[string]string{"PUBLIC_URL": "https://auth.example.com/?x=1"}, "PUBLIC_URL must look like"},
		{map[string]string{"SMTP_TLS": "maybe"}, "SMTP_TLS"},
		{map[string]string{"SMTP_PORT": "0"}, "SMTP_PORT"},
		{map[string]string{"SMTP_PASSWORD": "x"}, "SMTP_USERNAME"},
		{map[string]string{"MAIL_FROM": "nobody"}, "MAIL_FROM"},
		{map[string]string{"MAIL_DIR": "/tmp", "SMTP_HOST": "m", "PUBLIC_URL": "https://a.example"}, "MAIL_DIR"},
		{map[string]string{"MAIL_QUEUE_MAX": "0"}, "MAIL_QUEUE_MAX"},
		{map[string]string{"THROTTLE_RESET_ADDR": "-1"}, "THROTTLE_RESET"},
		{map[string]string{"PWNED_PASSWORDS_URL": "ftp://x"}, "PWNED_PASSWORDS_URL"},
	} {
		if _, err := load(nil, tc.env); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want one naming %s", tc.env, err, tc.want)
		}
	}
}
