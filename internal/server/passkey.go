package server

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"

	"github.com/go-chi/chi/v5"
	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/sessionauth/authd/internal/activity"
	"github.com/sessionauth/authd/internal/mfa"
	"github.com/sessionauth/authd/internal/session"
)

// passkeyJSON is the JSON form of a passkey.
type passkeyJSON struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Created  string `json:"created_at"`
	LastUsed string `json:"last_used_at,omitempty"`
}

func passkeysJSON(keys []mfa.Passkey) []passkeyJSON {
	out := make([]passkeyJSON, 0, len(keys))
	for _, k := range keys {
		j := passkeyJSON{ID: k.ID, Name: k.Name, Created: k.Created.UTC().Format("2006-01-02T15:04:05Z")}
		if !k.LastUsed.IsZero() {
			j.LastUsed = k.LastUsed.UTC().Format("2006-01-02T15:04:05Z")
		}
		out = append(out, j)
	}
	return out
}

// ceremonyAnswer is what the script posts back: the ceremony it answers
// and the browser's credential in WebAuthn's JSON form.
type ceremonyAnswer struct {
	Ceremony   string          `json:"ceremony"`
	Name       string          `json:"name"`
	Credential json.RawMessage `json:"credential"`
	Next       string          `json:"next"`
	Rd         string          `json:"rd"`
}

// passkeysOff answers 404 where passkeys are not configured.
func (a *app) passkeysOff(w http.ResponseWriter, r *http.Request) bool {
	if a.WebAuthn == nil {
		a.handleNotFound(w, r)
		return true
	}
	return false
}

// handlePasskeyOptions begins registering a passkey for the signed-in user:
// a discoverable credential with user verification, not one already held.
func (a *app) handlePasskeyOptions(w http.ResponseWriter, r *http.Request) {
	if a.passkeysOff(w, r) {
		return
	}
	info, _ := a.Sessions.Current(r.Context())
	acct, err := a.MFA.Account(r.Context(), info.UserID, info.Name)
	if err != nil {
		a.unavailable(w, r, err)
		return
	}
	exclude := make([]protocol.CredentialDescriptor, 0, len(acct.Creds))
	for _, c := range acct.Creds {
		exclude = append(exclude, c.Descriptor())
	}
	creation, data, err := a.WebAuthn.BeginRegistration(acct,
		webauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{
			ResidentKey: protocol.ResidentKeyRequirementRequired, RequireResidentKey: protocol.ResidentKeyRequired(),
			UserVerification: protocol.VerificationRequired,
		}),
		webauthn.WithExclusions(exclude))
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	id, err := a.Challenges.Put(r.Context(), "register:"+info.ID, data)
	if err != nil {
		a.unavailable(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ceremony": id, "publicKey": creation.Response})
}

// handlePasskeyAdd finishes the registration and stores the passkey.
func (a *app) handlePasskeyAdd(w http.ResponseWriter, r *http.Request) {
	if a.passkeysOff(w, r) {
		return
	}
	info, _ := a.Sessions.Current(r.Context())
	var ans ceremonyAnswer
	if err := decodeBody(r, &ans, func(url.Values) {}); err != nil {
		a.badBody(w, r, err)
		return
	}
	name := mfa.CleanPasskeyName(ans.Name)
	if name == "" {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"error": "Give the passkey a name of 1 to 64 characters."})
		return
	}
	data, err := a.Challenges.Take(r.Context(), ans.Ceremony, "register:"+info.ID)
	if err != nil {
		a.ceremonyFailed(w, r, err)
		return
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(ans.Credential)
	if err != nil {
		a.ceremonyFailed(w, r, err)
		return
	}
	acct, err := a.MFA.Account(r.Context(), info.UserID, info.Name)
	if err != nil {
		a.unavailable(w, r, err)
		return
	}
	cred, err := a.WebAuthn.CreateCredential(acct, data, parsed)
	if err != nil {
		a.ceremonyFailed(w, r, err)
		return
	}
	if _, err := a.MFA.AddPasskey(r.Context(), info.UserID, name, cred); err != nil {
		a.unavailable(w, r, err)
		return
	}
	a.factorChanged(r, info, activity.PasskeyAdded, "A passkey was added: "+name)
	writeJSON(w, http.StatusCreated, map[string]any{"added": true, "next": "/account/2fa"})
}

// ceremonyFailed answers a WebAuthn answer that does not check out: an
// unknown, used or expired ceremony, or a credential the library refused.
func (a *app) ceremonyFailed(w http.ResponseWriter, r *http.Request, err error) {
	if !errors.Is(err, mfa.ErrNoChallenge) {
		var perr *protocol.Error
		if !errors.As(err, &perr) && !errors.Is(err, mfa.ErrNoPasskey) {
			a.unavailable(w, r, err)
			return
		}
	}
	a.audit(r, "passkey", "failure", 0)
	a.logger(r).Info("passkey ceremony refused", "err", err)
	writeJSON(w, http.StatusUnauthorized, map[string]any{"error": "The passkey was not accepted. Please try again."})
}

// handlePasskeyRename renames one of the user's passkeys.
func (a *app) handlePasskeyRename(w http.ResponseWriter, r *http.Request) {
	info, _ := a.Sessions.Current(r.Context())
	if err := r.ParseForm(); err != nil {
		a.badBody(w, r, errMalformed)
		return
	}
	name := mfa.CleanPasskeyName(r.PostForm.Get("passkey_name"))
	if name == "" {
		a.fail(w, r, http.StatusUnprocessableEntity, "Give the passkey a name of 1 to 64 characters.")
		return
	}
	switch err := a.MFA.RenamePasskey(r.Context(), info.UserID, chi.URLParam(r, "id"), name); {
	case errors.Is(err, mfa.ErrNoPasskey):
		a.handleNotFound(w, r)
		return
	case err != nil:
		a.unavailable(w, r, err)
		return
	}
	http.Redirect(w, r, "/account/2fa", http.StatusSeeOther)
}

// handlePasskeyRemove removes one of the user's passkeys (behind step-up).
func (a *app) handlePasskeyRemove(w http.ResponseWriter, r *http.Request) {
	info, _ := a.Sessions.Current(r.Context())
	switch err := a.MFA.RemovePasskey(r.Context(), info.UserID, chi.URLParam(r, "id")); {
	case errors.Is(err, mfa.ErrNoPasskey):
		a.handleNotFound(w, r)
		return
	case err != nil:
		a.unavailable(w, r, err)
		return
	}
	a.factorChanged(r, info, activity.PasskeyRemoved, "A passkey was removed")
	if !a.dropRecoveryIfLast(w, r, info) {
		return
	}
	if wantsJSON(r) {
		writeJSON(w, http.StatusOK, map[string]bool{"removed": true})
		return
	}
	http.Redirect(w, r, "/account/2fa", http.StatusSeeOther)
}

// handlePasskeyLoginOptions begins a passkey sign-in: for a pending
// session, with that account's passkeys (the second factor); otherwise a
// discoverable one, where the authenticator names the account. User
// verification is required either way.
func (a *app) handlePasskeyLoginOptions(w http.ResponseWriter, r *http.Request) {
	if a.passkeysOff(w, r) {
		return
	}
	var (
		assertion *protocol.CredentialAssertion
		data      *webauthn.SessionData
		purpose   = "login"
		err       error
	)
	if info, ok := a.Sessions.Pending(r.Context()); ok {
		acct, aerr := a.MFA.Account(r.Context(), info.UserID, info.Name)
		if aerr != nil {
			a.unavailable(w, r, aerr)
			return
		}
		if len(acct.Creds) == 0 {
			a.fail(w, r, http.StatusConflict, "This account has no passkey.")
			return
		}
		purpose = "2fa:" + info.ID
		assertion, data, err = a.WebAuthn.BeginLogin(acct, webauthn.WithUserVerification(protocol.VerificationRequired))
	} else {
		assertion, data, err = a.WebAuthn.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationRequired))
	}
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	id, err := a.Challenges.Put(r.Context(), purpose, data)
	if err != nil {
		a.unavailable(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ceremony": id, "publicKey": assertion.Response})
}

// handlePasskeyLogin finishes a passkey sign-in and signs in under a new token.
func (a *app) handlePasskeyLogin(w http.ResponseWriter, r *http.Request) {
	if a.passkeysOff(w, r) {
		return
	}
	var ans ceremonyAnswer
	if err := decodeBody(r, &ans, func(url.Values) {}); err != nil {
		a.badBody(w, r, err)
		return
	}
	f := &formView{}
	f.Next, _ = localRedirect(ans.Next)
	f.ReturnTo = a.returnTo(ans.Rd)
	parsed, err := protocol.ParseCredentialRequestResponseBytes(ans.Credential)
	if err != nil {
		a.ceremonyFailed(w, r, err)
		return
	}
	pending, isPending := a.Sessions.Pending(r.Context())
	var (
		uid     int64
		cred    *webauthn.Credential
		methods []string
		kind    = activity.SignInPasskey
	)
	if isPending {
		data, err := a.Challenges.Take(r.Context(), ans.Ceremony, "2fa:"+pending.ID)
		if err != nil {
			a.ceremonyFailed(w, r, err)
			return
		}
		acct, err := a.MFA.Account(r.Context(), pending.UserID, pending.Name)
		if err != nil {
			a.unavailable(w, r, err)
			return
		}
		if cred, err = a.WebAuthn.ValidateLogin(acct, data, parsed); err != nil {
			a.ceremonyFailed(w, r, err)
			return
		}
		uid, methods = pending.UserID, append(pending.Methods, amrPasskey)
	} else {
		data, err := a.Challenges.Take(r.Context(), ans.Ceremony, "login")
		if err != nil {
			a.ceremonyFailed(w, r, err)
			return
		}
		var acct mfa.Account
		user, c, err := a.WebAuthn.ValidatePasskeyLogin(func(rawID, handle []byte) (webauthn.User, error) {
			id, ok := mfa.UserFromHandle(handle)
			if !ok {
				return nil, mfa.ErrNoPasskey
			}
			owner, err := a.MFA.PasskeyOwner(r.Context(), rawID)
			if err != nil {
				return nil, err
			}
			if owner != id {
				return nil, mfa.ErrNoPasskey
			}
			u, err := a.Users.ByID(r.Context(), id)
			if err != nil {
				return nil, err
			}
			acct, err = a.MFA.Account(r.Context(), u.ID, u.Name)
			return acct, err
		}, data, parsed)
		if err != nil {
			a.ceremonyFailed(w, r, err)
			return
		}
		cred, uid, methods = c, user.(mfa.Account).ID, []string{amrPasskey}
	}
	if cred.Authenticator.CloneWarning {
		a.ceremonyFailed(w, r, &protocol.Error{Type: "clone_warning", Details: "sign count went backwards"})
		return
	}
	if err := a.MFA.UsedPasskey(r.Context(), uid, cred); err != nil {
		a.logger(r).Warn("record passkey use", "user_id", uid, "err", err)
	}
	info := session.Info{UserID: uid}
	if isPending {
		info = pending
	}
	a.completeSignIn(w, r, info, methods, kind, f)
}
