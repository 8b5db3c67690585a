package browsertest

import (
	"context"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
)

// Authenticator is a virtual WebAuthn authenticator in a page's browser
// context (CDP's WebAuthn domain): Chromium runs the real ceremonies
// against it, signing with keys it makes, with no person to touch it.
type Authenticator struct {
	p  *Page
	ID webauthn.AuthenticatorID
}

// AddAuthenticator adds a platform authenticator (CTAP2, internal
// transport) that holds discoverable credentials and verifies the user
// (as a fingerprint or PIN would) whenever asked.
func (p *Page) AddAuthenticator() *Authenticator {
	p.t.Helper()
	a := &Authenticator{p: p}
	p.do(chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		if _, err := cdp.Call(ctx, t, webauthn.Enable, webauthn.EnableParams{}); err != nil {
			return err
		}
		res, err := cdp.Call(ctx, t, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{Options: &webauthn.VirtualAuthenticatorOptions{
			Protocol: webauthn.AuthenticatorProtocolCtap2, Ctap2version: webauthn.Ctap2versionCtap21,
			Transport:      webauthn.AuthenticatorTransportInternal,
			HasResidentKey: true, HasUserVerification: true, IsUserVerified: true,
			AutomaticPresenceSimulation: true,
		}})
		a.ID = res.AuthenticatorID
		return err
	}))
	return a
}

// Credentials returns the credentials the authenticator holds.
func (a *Authenticator) Credentials() []*webauthn.Credential {
	a.p.t.Helper()
	var creds []*webauthn.Credential
	a.p.do(chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		res, err := cdp.Call(ctx, t, webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: a.ID})
		creds = res.Credentials
		return err
	}))
	return creds
}

// SetUserVerified makes later user verification succeed or fail.
func (a *Authenticator) SetUserVerified(ok bool) {
	a.p.t.Helper()
	a.p.do(chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, webauthn.SetUserVerified, webauthn.SetUserVerifiedParams{AuthenticatorID: a.ID, IsUserVerified: ok})
		return err
	}))
}
