package definitions

import (
	"fmt"
	"math"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/relay-dev/relay/connectors"
	"github.com/relay-dev/relay/secrets"
)

var flowFields = []string{"id", "version", "description", "inputs", "connections", "trigger", "events", "steps", "output"}

func (p *parser) flow(root *yaml.Node, f *Flow) {
	fields, ok := p.mapping(root, "")
	if !ok {
		return
	}
	have := p.checkFields(fields, "", flowFields)
	p.requireFields(root, "", have, "id", "version", "steps")
	if fd, ok := have["id"]; ok {
		p.idPos = posOf(deref(fd.val))
		if id, ok := p.str(fd.val, "id"); ok {
			if flowIDPattern.MatchString(id) {
				f.ID = id
			} else {
				p.errorf(deref(fd.val), "id", "invalid flow id %q: use lowercase letters, digits, '.', '_' and '-', starting with a letter or digit", id)
			}
		}
	}
	if fd, ok := have["version"]; ok {
		if v, ok := p.positiveInt(fd.val, "version"); ok {
			f.Version = v
		}
	}
	if fd, ok := have["description"]; ok {
		f.Description, _ = p.str(fd.val, "description")
	}
	if fd, ok := have["inputs"]; ok {
		f.Inputs = p.inputDecls(fd.val, "inputs")
	}
	if fd, ok := have["connections"]; ok {
		p.connections(fd.val, "connections", f)
	}
	if fd, ok := have["trigger"]; ok {
		f.Trigger = p.trigger(fd.val, "trigger")
	}
	if fd, ok := have["events"]; ok {
		f.Events = p.events(fd.val, "events")
	}
	if fd, ok := have["steps"]; ok {
		f.Steps = p.steps(fd.val, "steps")
	}
	if fd, ok := have["output"]; ok {
		p.output = &stepMeta{path: "output"}
		f.Output = p.value(fd.val, "output", p.output)
	}
	p.check(f)
}

var inputFields = []string{"type", "required", "default", "description"}

// inputTypes are the type names of inputs and action parameters.
var inputTypes = []string{"string", "number", "integer", "boolean", "object", "array", "any"}

func (p *parser) inputDecls(n *yaml.Node, path string) []*Input {
	fields, ok := p.mapping(n, path)
	if !ok {
		return nil
	}
	var out []*Input
	for _, fd := range fields {
		ipath := join(path, fd.name)
		in := &Input{Name: fd.name, Type: "any", Pos: posOf(fd.key)}
		if !identifierPattern.MatchString(fd.name) {
			p.errorf(fd.key, ipath, "invalid input name %q: use letters, digits and '_', starting with a letter or '_'", fd.name)
		}
		p.decls[fd.name] = in
		out = append(out, in)
		spec, ok := p.mapping(fd.val, ipath)
		if !ok {
			continue
		}
		have := p.checkFields(spec, ipath, inputFields)
		if t, ok := have["type"]; ok {
			if s, ok := p.str(t.val, join(ipath, "type")); ok {
				if contains(inputTypes, s) {
					in.Type = s
				} else {
					p.errorf(deref(t.val), join(ipath, "type"), "unknown type %q; types: %s", s, strings.Join(inputTypes, ", "))
				}
			}
		}
		if r, ok := have["required"]; ok {
			in.Required, _ = p.boolean(r.val, join(ipath, "required"))
			if in.Required {
				p.required = append(p.required, in)
			}
		}
		if d, ok := have["description"]; ok {
			in.Description, _ = p.str(d.val, join(ipath, "description"))
		}
		if d, ok := have["default"]; ok {
			dpath := join(ipath, "default")
			v, ok := p.plain(d.val, dpath)
			switch {
			case !ok || v == nil:
			case in.Required:
				p.errorf(deref(d.val), dpath, "a required input cannot have a default: remove one of the two")
			default:
				if msg := checkType(in.Type, v); msg != "" {
					p.errorf(deref(d.val), dpath, "default does not match type %s: %s", in.Type, msg)
				} else {
					in.Default = v
				}
			}
		}
	}
	return out
}

var connectionFields = []string{"connector", "base_url", "auth", "headers", "timeout", "rate_limit", "max_concurrency"}

// connectorOf returns the registered connector of a connection, or nil.
func (p *parser) connectorOf(c *Connection) *connectors.Connector {
	if p.reg == nil || c.Config.Connector == "" {
		return nil
	}
	return p.reg.Lookup(c.Config.Connector)
}

func (p *parser) connections(n *yaml.Node, path string, f *Flow) {
	fields, ok := p.mapping(n, path)
	if !ok {
		return
	}
	for _, fd := range fields {
		cpath := join(path, fd.name)
		p.conns[fd.name] = ""
		if !identifierPattern.MatchString(fd.name) {
			p.errorf(fd.key, cpath, "invalid connection name %q: use letters, digits and '_', starting with a letter or '_'", fd.name)
		}
		spec, ok := p.mapping(fd.val, cpath)
		if !ok {
			continue
		}
		c := &Connection{Name: fd.name, Pos: posOf(fd.key)}
		f.Connections[fd.name] = c
		have := p.checkFields(spec, cpath, connectionFields)
		p.requireFields(fd.val, cpath, have, "connector")
		if x, ok := have["connector"]; ok {
			if name, ok := p.nonEmptyStr(x.val, join(cpath, "connector")); ok {
				c.Config.Connector = name
				switch {
				case p.reg == nil:
					p.conns[fd.name] = name
				case p.reg.Lookup(name) == nil:
					p.errorf(deref(x.val), join(cpath, "connector"), "unknown connector %q; registered: %s", name, registered(p.reg))
				default:
					p.conns[fd.name] = name
				}
			}
		}
		if x, ok := have["base_url"]; ok {
			if s, ok := p.str(x.val, join(cpath, "base_url")); ok && secrets.IsRef(s) {
				// A URL holding a secret stays a reference until a call.
				if err := secrets.Validate(s); err != nil {
					p.errorf(deref(x.val), join(cpath, "base_url"), "%v", err)
				} else {
					c.Config.BaseURL = s
				}
			} else if ok {
				u, err := url.Parse(s)
				conn := p.connectorOf(c)
				switch {
				case err != nil || u.Host == "":
					p.errorf(deref(x.val), join(cpath, "base_url"), "invalid base_url %q: use an absolute URL such as https://api.example.com", s)
				case conn != nil && !conn.AcceptsScheme(u.Scheme):
					p.errorf(deref(x.val), join(cpath, "base_url"), "base_url %q: connector %s does not speak %s URLs", s, conn.Name, u.Scheme)
				case conn == nil && u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "smtp" && u.Scheme != "smtps":
					p.errorf(deref(x.val), join(cpath, "base_url"), "invalid base_url %q: use an absolute http or https URL such as https://api.example.com", s)
				default:
					c.Config.BaseURL = s
				}
			}
		}
		if x, ok := have["auth"]; ok {
			c.Config.Auth = p.auth(x.val, join(cpath, "auth"))
		}
		if x, ok := have["headers"]; ok {
			c.Config.Headers = p.headers(x.val, join(cpath, "headers"))
		}
		if x, ok := have["timeout"]; ok {
			c.Config.Timeout, _ = p.duration(x.val, join(cpath, "timeout"))
		}
		if x, ok := have["rate_limit"]; ok {
			rpath := join(cpath, "rate_limit")
			v := deref(x.val)
			rate, ok := parseRate(v.Value)
			if v.Kind != yaml.ScalarNode || v.ShortTag() != "!!str" || !ok {
				p.errorf(v, rpath, "invalid rate_limit %q: use a positive N/s, N/m or N/h such as 10/s or 600/m", v.Value)
			} else {
				c.Config.RateLimit = rate
			}
		}
		if x, ok := have["max_concurrency"]; ok {
			c.Config.MaxConcurrency, _ = p.positiveInt32(x.val, join(cpath, "max_concurrency"))
		}
	}
}

func registered(reg *connectors.Registry) string {
	var names []string
	for _, c := range reg.All() {
		names = append(names, c.Name)
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// parseRate reads N/s, N/m or N/h as requests per second.
func parseRate(s string) (float64, bool) {
	num, unit, ok := strings.Cut(strings.TrimSpace(s), "/")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if err != nil || n <= 0 || math.IsInf(n, 0) {
		return 0, false
	}
	switch strings.TrimSpace(unit) {
	case "s":
	case "m":
		n /= 60
	case "h":
		n /= 3600
	default:
		return 0, false
	}
	// A rate so small that it rounds to zero would read as unlimited.
	return n, n > 0
}

func (p *parser) headers(n *yaml.Node, path string) map[string]string {
	fields, ok := p.mapping(n, path)
	if !ok {
		return nil
	}
	out := make(map[string]string, len(fields))
	for _, fd := range fields {
		hpath := join(path, fd.name)
		switch strings.ToLower(fd.name) {
		case "authorization", "proxy-authorization":
			p.errorf(fd.key, hpath, "credentials do not belong in headers, which are stored in run history: use auth")
			continue
		}
		if v, ok := p.str(fd.val, hpath); ok {
			out[fd.name] = v
		}
	}
	return out
}

// authKind lists the fields of one auth kind besides `kind`.
type authKind struct {
	fields   []string
	required []string
}

var authKinds = map[string]authKind{
	connectors.AuthAPIKey: {fields: []string{"in", "name", "key"}, required: []string{"name", "key"}},
	connectors.AuthBearer: {fields: []string{"token"}, required: []string{"token"}},
	connectors.AuthBasic:  {fields: []string{"username", "password"}, required: []string{"username", "password"}},
	connectors.AuthOAuth2: {fields: []string{"token_url", "client_id", "client_secret", "scopes"}, required: []string{"token_url", "client_id", "client_secret"}},
	connectors.AuthHMAC:   {fields: []string{"secret", "header"}, required: []string{"secret"}},
}

func (p *parser) auth(n *yaml.Node, path string) *connectors.AuthConfig {
	fields, ok := p.mapping(n, path)
	if !ok {
		return nil
	}
	kinds := sortedNames(authKinds)
	var kindField *field
	for i := range fields {
		if fields[i].name == "kind" {
			kindField = &fields[i]
		}
	}
	if kindField == nil {
		p.errorf(deref(n), path, "missing required field \"kind\"; kinds: %s", strings.Join(kinds, ", "))
		return nil
	}
	kind, ok := p.str(kindField.val, join(path, "kind"))
	if !ok {
		return nil
	}
	spec, known := authKinds[kind]
	if !known {
		p.errorf(deref(kindField.val), join(path, "kind"), "unknown auth kind %q; kinds: %s", kind, strings.Join(kinds, ", "))
		return nil
	}
	allowed := append([]string{"kind"}, spec.fields...)
	a := &connectors.AuthConfig{Kind: kind}
	nodes := map[string]*yaml.Node{}
	for _, fd := range fields {
		if fd.name == "kind" {
			continue
		}
		fpath := join(path, fd.name)
		if !contains(allowed, fd.name) {
			p.errorf(fd.key, fpath, "unknown field %q for auth kind %s; allowed: %s", fd.name, kind, strings.Join(allowed, ", "))
			continue
		}
		nodes[fd.name] = deref(fd.val)
		if fd.name == "scopes" {
			items, ok := p.list(fd.val, fpath)
			if !ok {
				continue
			}
			for i, item := range items {
				if s, ok := p.nonEmptyStr(item, index(fpath, i)); ok {
					a.Scopes = append(a.Scopes, s)
				}
			}
			continue
		}
		s, ok := p.nonEmptyStr(fd.val, fpath)
		if !ok {
			continue
		}
		switch fd.name {
		case "in":
			if s != "header" && s != "query" {
				p.errorf(deref(fd.val), fpath, "invalid in %q: use header or query", s)
			}
			a.In = s
		case "name":
			a.Name = s
		case "key":
			a.Key = s
		case "token":
			a.Token = s
		case "username":
			a.Username = s
		case "password":
			a.Password = s
		case "token_url":
			if u, err := url.Parse(s); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				p.errorf(deref(fd.val), fpath, "invalid token_url %q: use an absolute http or https URL", s)
			}
			a.TokenURL = s
		case "client_id":
			a.ClientID = s
		case "client_secret":
			a.ClientSecret = s
		case "secret":
			a.Secret = s
		case "header":
			a.Header = s
		}
	}
	for _, name := range spec.required {
		if _, ok := nodes[name]; !ok {
			p.errorf(deref(n), path, "missing required field %q for auth kind %s", name, kind)
		}
	}
	for name, ref := range a.SecretFields() {
		if ref == "" {
			continue
		}
		if msg := checkSecretRef(ref); msg != "" {
			p.errorf(nodes[name], join(path, name), "%s", msg)
		}
	}
	return a
}

var (
	secretKindPattern = regexp.MustCompile(`^[a-z][a-z0-9+.-]{0,15}$`)
	envNamePattern    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// checkSecretRef returns what is wrong with a secret reference, or "".
// It never repeats a value that may be the secret itself.
func checkSecretRef(ref string) string {
	kind, rest, ok := strings.Cut(ref, ":")
	if !ok || !secretKindPattern.MatchString(kind) {
		return "must be a secret reference (env:NAME or file:PATH), not the secret itself"
	}
	switch kind {
	case "env":
		if !envNamePattern.MatchString(rest) {
			return fmt.Sprintf("invalid environment variable name %q in secret reference: use env:NAME", rest)
		}
	case "file":
		if strings.TrimSpace(rest) == "" {
			return "secret reference file: names no file: use file:PATH"
		}
	default:
		return fmt.Sprintf("unknown secret reference kind %q (use env:NAME or file:PATH)", kind)
	}
	return ""
}
