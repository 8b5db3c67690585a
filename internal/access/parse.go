package access

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/sessionauth/authd/internal/group"
	"github.com/sessionauth/authd/internal/user"
)

// maxFileBytes bounds a rules file; a real one is a few kilobytes.
const maxFileBytes = 1 << 20

// Problem is one thing wrong with a rules file.
type Problem struct {
	Line int // 0 when the problem has no line (an empty file)
	Msg  string
}

// InvalidError lists everything wrong with a rules file, so that one run
// shows all there is to fix.
type InvalidError struct {
	Source   string
	Problems []Problem
}

func (e *InvalidError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d problem(s):", e.Source, len(e.Problems))
	for _, p := range e.Problems {
		if p.Line > 0 {
			fmt.Fprintf(&b, "\n  line %d: %s", p.Line, p.Msg)
		} else {
			fmt.Fprintf(&b, "\n  %s", p.Msg)
		}
	}
	return b.String()
}

// Load reads and parses the rules file at path.
func Load(path string) (*Rules, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("access rules: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("access rules: read %s: %w", path, err)
	}
	if len(b) > maxFileBytes {
		return nil, fmt.Errorf("access rules: %s is larger than %d bytes", path, maxFileBytes)
	}
	return Parse(path, b)
}

// Parse parses a rules file; source names it in messages. Every problem is
// reported, each with its line, in one *InvalidError.
func Parse(source string, data []byte) (*Rules, error) {
	p := &parser{rules: &Rules{Source: source, def: Deny}}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		// yaml's messages already say "yaml: line N: ...".
		return nil, &InvalidError{Source: source, Problems: []Problem{{Msg: strings.TrimPrefix(err.Error(), "yaml: ")}}}
	}
	if len(doc.Content) == 0 {
		return nil, &InvalidError{Source: source, Problems: []Problem{{Msg: `the file is empty; it needs at least "rules:"`}}}
	}
	p.top(doc.Content[0])
	if len(p.problems) > 0 {
		return nil, &InvalidError{Source: source, Problems: p.problems}
	}
	return p.rules, nil
}

type parser struct {
	rules    *Rules
	problems []Problem
}

func (p *parser) fail(n *yaml.Node, format string, args ...any) {
	p.problems = append(p.problems, Problem{Line: n.Line, Msg: fmt.Sprintf(format, args...)})
}

// mapping calls fn for each key of a mapping node, refusing keys not in
// known and keys given twice.
func (p *parser) mapping(n *yaml.Node, what string, known []string, fn func(key string, val *yaml.Node)) {
	if n.Kind != yaml.MappingNode {
		p.fail(n, "%s must be a mapping of keys to values", what)
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch {
		case !slices.Contains(known, k.Value):
			p.fail(k, "unknown key %q in %s (known: %s)", k.Value, what, strings.Join(known, ", "))
		case seen[k.Value]:
			p.fail(k, "%q given twice in %s", k.Value, what)
		default:
			seen[k.Value] = true
			fn(k.Value, v)
		}
	}
}

func (p *parser) top(n *yaml.Node) {
	found := false
	p.mapping(n, "the file", []string{"default_policy", "rules"}, func(key string, v *yaml.Node) {
		switch key {
		case "default_policy":
			if pol, ok := p.policy(v); ok {
				p.rules.def = pol
			}
		case "rules":
			found = true
			if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
				return // "rules:" with nothing: the default policy everywhere
			}
			if v.Kind != yaml.SequenceNode {
				p.fail(v, "rules must be a list (each rule starts with \"- \")")
				return
			}
			for _, rn := range v.Content {
				if r := p.rule(rn); r != nil {
					p.rules.rules = append(p.rules.rules, r)
				}
			}
		}
	})
	if n.Kind == yaml.MappingNode && !found {
		p.fail(n, `the file has no "rules:" list`)
	}
}

func (p *parser) policy(v *yaml.Node) (Policy, bool) {
	if v.Kind != yaml.ScalarNode {
		p.fail(v, "a policy is one word: bypass, signed_in, two_factor or deny")
		return Deny, false
	}
	switch v.Value {
	case "bypass":
		return Bypass, true
	case "signed_in":
		return SignedIn, true
	case "deny":
		return Deny, true
	case "two_factor":
		return TwoFactor, true
	}
	p.fail(v, "unknown policy %q (want bypass, signed_in, two_factor or deny)", v.Value)
	return Deny, false
}

var ruleKeys = []string{"domain", "path_prefix", "path_regex", "methods", "subject", "policy"}

func (p *parser) rule(n *yaml.Node) *Rule {
	before := len(p.problems)
	r := &Rule{Line: n.Line}
	hasPolicy, hasDomain := false, false
	var summary []string
	p.mapping(n, "a rule", ruleKeys, func(key string, v *yaml.Node) {
		if key == "policy" {
			hasPolicy = true
			if pol, ok := p.policy(v); ok {
				r.Policy = pol
			}
			return
		}
		vals := p.strings(key, v)
		if len(vals) > 0 {
			summary = append(summary, key+" "+strings.Join(vals, ","))
		}
		switch key {
		case "domain":
			hasDomain = true
			for _, d := range vals {
				if nd, err := checkDomain(d); err != nil {
					p.fail(v, "domain %q: %v", d, err)
				} else {
					r.domains = append(r.domains, nd)
				}
			}
		case "path_prefix":
			for _, s := range vals {
				if err := checkPrefix(s); err != nil {
					p.fail(v, "path_prefix %q: %v", s, err)
				} else {
					r.prefixes = append(r.prefixes, s)
				}
			}
		case "path_regex":
			for _, s := range vals {
				re, err := regexp.Compile(s)
				if err != nil {
					p.fail(v, "path_regex %q: %v", s, err)
					continue
				}
				r.regexps = append(r.regexps, re)
			}
		case "methods":
			for _, m := range vals {
				um := strings.ToUpper(m)
				if !isToken(um) {
					p.fail(v, "method %q is not an HTTP method name", m)
					continue
				}
				r.methods = append(r.methods, um)
			}
		case "subject":
			for _, s := range vals {
				p.subject(v, r, s)
			}
		}
	})
	if n.Kind != yaml.MappingNode {
		return nil
	}
	if !hasDomain {
		p.fail(n, `the rule has no "domain" (use "*" for every host)`)
	}
	if !hasPolicy {
		p.fail(n, `the rule has no "policy" (bypass, signed_in or deny)`)
	}
	if len(p.problems) > before {
		return nil
	}
	if len(r.users)+len(r.groups) > 0 && r.Policy == Bypass {
		// A bypass for some users only still needs to know who they are.
		summary = append(summary, "(signed-out requests must sign in)")
	}
	r.Summary = strings.Join(summary, "; ")
	return r
}

// strings reads a value that is one string or a list of strings; an empty
// list is refused, since "domain: []" would match nothing silently.
func (p *parser) strings(key string, v *yaml.Node) []string {
	switch v.Kind {
	case yaml.ScalarNode:
		if v.Tag != "!!str" || v.Value == "" {
			p.fail(v, "%s must be a non-empty string or a list of them (quote it if YAML reads it as something else)", key)
			return nil
		}
		return []string{v.Value}
	case yaml.SequenceNode:
		if len(v.Content) == 0 {
			p.fail(v, "%s is an empty list", key)
			return nil
		}
		out := make([]string, 0, len(v.Content))
		for _, e := range v.Content {
			if e.Kind != yaml.ScalarNode || e.Tag != "!!str" || e.Value == "" {
				p.fail(e, "each %s must be a non-empty string", key)
				continue
			}
			out = append(out, e.Value)
		}
		return out
	}
	p.fail(v, "%s must be a string or a list of strings", key)
	return nil
}

func (p *parser) subject(v *yaml.Node, r *Rule, s string) {
	kind, name, ok := strings.Cut(s, ":")
	switch {
	case ok && kind == "user":
		_, key, err := user.NormalizeName(name)
		if err != nil {
			p.fail(v, "subject %q: %v", s, err)
			return
		}
		r.users = append(r.users, key)
	case ok && kind == "group":
		g, err := group.NormalizeName(name)
		if err != nil {
			p.fail(v, "subject %q: %v", s, err)
			return
		}
		r.groups = append(r.groups, g)
	default:
		p.fail(v, "subject %q must be user:NAME or group:NAME", s)
	}
}

// checkDomain validates a domain pattern and returns it in lower case.
func checkDomain(d string) (string, error) {
	d = strings.ToLower(d)
	if d == "*" {
		return d, nil
	}
	name := strings.TrimPrefix(d, "*.")
	if strings.ContainsAny(name, "*:/") {
		return "", errors.New(`want a host name, "*.example.com" or "*" (no port, scheme or path; a wildcard only as the first label)`)
	}
	if net.ParseIP(name) != nil && name != d {
		return "", errors.New("a wildcard cannot precede an IP address")
	}
	if len(name) > 253 {
		return "", errors.New("too long")
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" || len(label) > 63 {
			return "", errors.New("each dot-separated label must be 1 to 63 characters")
		}
		for i := 0; i < len(label); i++ {
			if c := label[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return "", fmt.Errorf("%q is not allowed in a host name", c)
			}
		}
	}
	return d, nil
}

// checkPrefix refuses prefixes that no normalised request path can match.
func checkPrefix(s string) error {
	switch {
	case !strings.HasPrefix(s, "/"):
		return errors.New("must start with /")
	case strings.ContainsAny(s, "%\\?#;") || strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return errors.New("must be a plain decoded path (no %, \\, ?, #, ; or control characters)")
	case path.Clean(s) != strings.TrimSuffix(s, "/") && s != "/":
		return errors.New(`must not contain "//", "." or ".." segments`)
	}
	return nil
}

// isToken reports whether s is an HTTP token (RFC 9110), as method names are.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}
