package config

import (
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"slices"
)

// validateMail checks the mail settings.
func (c Config) validateMail() error {
	var errs []error
	check := func(ok bool, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}
	if c.PublicURL != "" {
		u, err := url.Parse(c.PublicURL)
		check(err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && u.User == nil && u.RawQuery == "" && u.Fragment == "",
			"PUBLIC_URL must look like https://auth.example.com")
	}
	smtp := c.SMTPHost != ""
	check(!smtp || c.PublicURL != "", "PUBLIC_URL is required with SMTP_HOST: links in mail must name the site as users reach it")
	check(!smtp || c.MailDir == "", "MAIL_DIR is for development without SMTP_HOST; unset one of them")
	check(slices.Contains([]string{"starttls", "tls", "none"}, c.SMTPTLS), "SMTP_TLS must be starttls, tls or none")
	check(c.SMTPPort > 0 && c.SMTPPort < 65536, "SMTP_PORT must be between 1 and 65535")
	check(c.SMTPTimeout > 0, "SMTP_TIMEOUT must be positive")
	check(c.SMTPPassword == "" || c.SMTPUsername != "", "SMTP_PASSWORD is set but SMTP_USERNAME is not")
	_, err := mail.ParseAddress(c.MailFrom)
	check(err == nil, "MAIL_FROM must be an address such as \"authd <no-reply@example.com>\"")
	check(c.MailQueueMax > 0, "MAIL_QUEUE_MAX must be positive")
	check(c.MailMaxAge > 0, "MAIL_MAX_AGE must be positive")
	check(c.ThrottleResetRequests >= 0 && c.ThrottleResetAddr >= 0, "THROTTLE_RESET_* limits must not be negative")
	if c.PwnedPasswordsURL != "" {
		u, err := url.Parse(c.PwnedPasswordsURL)
		check(err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "", "PWNED_PASSWORDS_URL must be an http(s) URL such as https://api.pwnedpasswords.com/range/")
	}
	return errors.Join(errs...)
}
