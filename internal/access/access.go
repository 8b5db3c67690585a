// Package access decides who may reach which protected app: the access
// rules of forward authentication, read from a small YAML file and
// evaluated top to bottom, the first matching rule deciding.
//
// A rule matches a request by host (exact, "*.example.com" or "*"), path
// (prefix or regular expression) and method; it may be limited to subjects
// ("user:NAME", "group:NAME"). Its policy is bypass (public), signed_in,
// deny, or, in a later version, two_factor. Requests that no rule matches
// get the file's default policy, deny unless it says otherwise. Without a
// rules file (a nil *Rules) every signed-in user may reach everything.
package access

import (
	"regexp"
	"slices"
	"strings"

	"github.com/sessionauth/authd/internal/user"
)

// Policy says what a matching request needs.
type Policy uint8

// The policies. The zero value is Deny, so a Policy left unset refuses.
const (
	Deny      Policy = iota // nobody, signed in or not
	Bypass                  // everybody: no sign-in needed
	SignedIn                // any signed-in user the rule's subjects allow
	TwoFactor               // signed in with a second factor or a passkey (and the rule's subjects allow)
)

var policyNames = map[Policy]string{Deny: "deny", Bypass: "bypass", SignedIn: "signed_in", TwoFactor: "two_factor"}

func (p Policy) String() string { return policyNames[p] }

// Verdict is the answer for one request.
type Verdict uint8

// The verdicts; the zero value refuses.
const (
	Forbidden      Verdict = iota // signed in, but not allowed: 403
	Allowed                       // 2xx
	SignInRequired                // signed out, and the answer may depend on who signs in: 401
)

func (v Verdict) String() string {
	switch v {
	case Allowed:
		return "allowed"
	case SignInRequired:
		return "sign-in required"
	}
	return "forbidden"
}

// Resource is the request a proxy asks about, already normalised: Host in
// lower case without port, Path decoded and free of dot segments, Method in
// upper case.
type Resource struct {
	Host, Path, Method string
}

// Subject is the signed-in user a request comes from.
type Subject struct {
	Name   string
	Groups []string
	// TwoFactor: the session signed in with more than a password (an
	// authenticator app, a recovery code, or a passkey with user
	// verification).
	TwoFactor bool
}

// Rule is one entry of the rules file.
type Rule struct {
	// Line is where the rule starts in the file, for messages.
	Line    int
	Policy  Policy
	domains []string // exact names, "*.suffix" or "*"
	// prefixes and regexps match the path; either may match, and a rule
	// with neither matches every path.
	prefixes []string
	regexps  []*regexp.Regexp
	methods  []string // empty: any
	users    []string // user name keys (PRECIS case-mapped)
	groups   []string
	// Summary is the rule's match in one line, for explanations.
	Summary string
}

// Rules is a parsed rules file. A nil *Rules is the configuration without a
// file: every signed-in user may reach everything.
type Rules struct {
	rules []*Rule
	def   Policy
	// Source names the file, for messages.
	Source string
}

// Len returns the number of rules.
func (rs *Rules) Len() int {
	if rs == nil {
		return 0
	}
	return len(rs.rules)
}

// Default returns the policy of requests that no rule matches.
func (rs *Rules) Default() Policy {
	if rs == nil {
		return SignedIn
	}
	return rs.def
}

// Decision is a verdict and the rule that gave it (nil: the default policy).
type Decision struct {
	Verdict Verdict
	Rule    *Rule
}

// Policy returns the policy that decided.
func (d Decision) Policy(rs *Rules) Policy {
	if d.Rule != nil {
		return d.Rule.Policy
	}
	return rs.Default()
}

// Decide evaluates the rules for a request from who (nil: signed out).
//
// For a signed-in user the first rule that matches both the request and
// the user decides. For a signed-out request the first rule that matches
// the request decides: bypass allows it, and anything else, including a
// rule limited to some users or groups (who they are decides), requires
// signing in.
func (rs *Rules) Decide(res Resource, who *Subject) Decision {
	if rs != nil {
		var key string // who's name key, computed once if a rule needs it
		for _, r := range rs.rules {
			if !r.matches(res) {
				continue
			}
			if who == nil {
				if r.hasSubjects() || r.Policy != Bypass {
					return Decision{SignInRequired, r}
				}
				return Decision{Allowed, r}
			}
			if r.hasSubjects() {
				if key == "" && len(r.users) > 0 {
					key = nameKey(who.Name)
				}
				if !r.subjectMatches(key, who.Groups) {
					continue
				}
			}
			return Decision{verdict(r.Policy, who), r}
		}
	}
	return Decision{verdict(rs.Default(), who), nil}
}

func verdict(p Policy, who *Subject) Verdict {
	switch {
	case p == Bypass:
		return Allowed
	case who == nil:
		return SignInRequired
	case p == SignedIn, p == TwoFactor && who.TwoFactor:
		return Allowed
	}
	return Forbidden // Deny, and TwoFactor for a password-only session
}

func nameKey(name string) string {
	if _, key, err := user.NormalizeName(name); err == nil {
		return key
	}
	return "\x00" // matches no rule's user
}

func (r *Rule) hasSubjects() bool { return len(r.users) > 0 || len(r.groups) > 0 }

func (r *Rule) subjectMatches(key string, groups []string) bool {
	if slices.Contains(r.users, key) {
		return true
	}
	for _, g := range r.groups {
		if slices.Contains(groups, g) {
			return true
		}
	}
	return false
}

func (r *Rule) matches(res Resource) bool {
	if !slices.ContainsFunc(r.domains, func(d string) bool { return domainMatches(d, res.Host) }) {
		return false
	}
	if len(r.methods) > 0 && !slices.Contains(r.methods, res.Method) {
		return false
	}
	if len(r.prefixes) == 0 && len(r.regexps) == 0 {
		return true
	}
	for _, p := range r.prefixes {
		if prefixMatches(p, res.Path) {
			return true
		}
	}
	for _, re := range r.regexps {
		if re.MatchString(res.Path) {
			return true
		}
	}
	return false
}

// domainMatches: "*" is every host; "*.example.com" every host below
// example.com (not example.com itself); anything else one host.
func domainMatches(pattern, host string) bool {
	switch {
	case pattern == "*":
		return true
	case strings.HasPrefix(pattern, "*."):
		return len(host) > len(pattern)-1 && strings.HasSuffix(host, pattern[1:])
	}
	return pattern == host
}

// prefixMatches matches whole path segments: "/admin" matches "/admin" and
// "/admin/x", not "/administrator"; "/admin/" matches "/admin/" and below.
func prefixMatches(prefix, path string) bool {
	if !strings.HasPrefix(path, prefix) {
		return false
	}
	return len(path) == len(prefix) || strings.HasSuffix(prefix, "/") || path[len(prefix)] == '/'
}
