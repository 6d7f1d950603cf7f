package definitions

import (
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/relay-dev/relay/secrets"
)

// Trigger says what starts a flow's runs.
type Trigger struct {
	// Webhook starts one run per verified delivery.
	Webhook *Webhook
}

// Webhook is a signed partner webhook relay receives at Path.
type Webhook struct {
	// Path is where relay listens, under /hooks/.
	Path   string
	Verify Verify
	// Dedupe names the delivery; the run's workflow ID is `<flow>/<dedupe>`.
	// Nil means the provider's delivery or event ID.
	Dedupe *Expr
	// Filter, when false for a delivery, answers 200 and starts nothing.
	Filter *Expr
	// Input maps the delivery to the flow's inputs; nil passes the body.
	Input *Value
	// MaxBody bounds the body in bytes (default 1 MiB).
	MaxBody int64
	Pos     Pos
}

// Verify says how a webhook's signature is checked.
type Verify struct {
	// Scheme: standard_webhooks, stripe, github, shopify, slack or hmac.
	Scheme string
	// Secrets are secret references; during a rotation several are valid.
	Secrets   []string
	Tolerance time.Duration
	// The generic hmac scheme's settings.
	Header, Algorithm, Encoding, Prefix, Template, TimestampHeader string
}

// EventRoute delivers a webhook to a run that waits for it, as a `wait`
// step's event, instead of starting a run.
type EventRoute struct {
	// Name is the event name `wait` steps wait for.
	Name    string
	Webhook *Webhook
	// Run evaluates to the dedupe key of the run to wake: the event goes to
	// workflow `<flow>/<run>`.
	Run *Expr
	// Key is the correlation key the wait step compares; nil means Run's value.
	Key *Expr
	// Data is what the wait step outputs; nil means the body.
	Data *Value
	Pos  Pos
}

// DefaultMaxBody is a webhook's body limit unless it says otherwise.
const DefaultMaxBody = 1 << 20

var (
	verifySchemes  = []string{"standard_webhooks", "stripe", "github", "shopify", "slack", "hmac"}
	triggerFields  = []string{"webhook"}
	webhookFields  = []string{"path", "verify", "dedupe", "filter", "input", "max_body"}
	verifyFields   = []string{"scheme", "secrets", "tolerance", "header", "algorithm", "encoding", "prefix", "template", "timestamp_header"}
	eventFields    = []string{"name", "webhook", "run", "key", "data"}
	eventWebhookFs = []string{"path", "verify", "filter", "max_body"}
)

func (p *parser) trigger(n *yaml.Node, path string) *Trigger {
	fields, ok := p.mapping(n, path)
	if !ok {
		return nil
	}
	have := p.checkFields(fields, path, triggerFields)
	t := &Trigger{}
	if fd, ok := have["webhook"]; ok {
		t.Webhook = p.webhook(fd.val, join(path, "webhook"), webhookFields)
	}
	return t
}

// triggerExprs switches expression compilation to the trigger environment
// for the duration of fn.
func (p *parser) triggerExprs(fn func()) {
	prev := p.compile
	p.compile = CompileTriggerExpr
	defer func() { p.compile = prev }()
	fn()
}

func (p *parser) webhook(n *yaml.Node, path string, allowed []string) *Webhook {
	fields, ok := p.mapping(n, path)
	if !ok {
		return nil
	}
	have := p.checkFields(fields, path, allowed)
	p.requireFields(n, path, have, "path", "verify")
	w := &Webhook{MaxBody: DefaultMaxBody, Pos: posOf(deref(n))}
	if fd, ok := have["path"]; ok {
		if s, ok := p.nonEmptyStr(fd.val, join(path, "path")); ok {
			if !strings.HasPrefix(s, "/hooks/") || strings.ContainsAny(s, " ?#") {
				p.errorf(deref(fd.val), join(path, "path"), "webhook path %q must start with /hooks/ and hold no spaces, ? or #", s)
			}
			w.Path = s
		}
	}
	if fd, ok := have["verify"]; ok {
		w.Verify = p.verify(fd.val, join(path, "verify"))
	}
	if fd, ok := have["max_body"]; ok {
		if v, ok := p.positiveInt(fd.val, join(path, "max_body")); ok {
			w.MaxBody = int64(v)
		}
	}
	p.triggerExprs(func() {
		if fd, ok := have["dedupe"]; ok {
			w.Dedupe = p.expr(fd.val, join(path, "dedupe"), nil, wantAny)
		}
		if fd, ok := have["filter"]; ok {
			w.Filter = p.expr(fd.val, join(path, "filter"), nil, wantBool)
		}
		if fd, ok := have["input"]; ok {
			w.Input = p.value(fd.val, join(path, "input"), nil)
		}
	})
	return w
}

func (p *parser) verify(n *yaml.Node, path string) Verify {
	var v Verify
	fields, ok := p.mapping(n, path)
	if !ok {
		return v
	}
	have := p.checkFields(fields, path, verifyFields)
	p.requireFields(n, path, have, "scheme", "secrets")
	if fd, ok := have["scheme"]; ok {
		if s, ok := p.str(fd.val, join(path, "scheme")); ok {
			if !contains(verifySchemes, s) {
				p.errorf(deref(fd.val), join(path, "scheme"), "unknown verification scheme %q; schemes: %s", s, strings.Join(verifySchemes, ", "))
			}
			v.Scheme = s
		}
	}
	if fd, ok := have["secrets"]; ok {
		items, _ := p.list(fd.val, join(path, "secrets"))
		if len(items) == 0 && deref(fd.val).Kind == yaml.SequenceNode {
			p.errorf(deref(fd.val), join(path, "secrets"), "at least one secret is needed: unsigned webhooks are refused")
		}
		for i, item := range items {
			ip := index(join(path, "secrets"), i)
			s, ok := p.nonEmptyStr(item, ip)
			if !ok {
				continue
			}
			if err := secrets.Validate(s); err != nil {
				p.errorf(deref(item), ip, "%v", err)
				continue
			}
			v.Secrets = append(v.Secrets, s)
		}
	}
	if fd, ok := have["tolerance"]; ok {
		v.Tolerance, _ = p.duration(fd.val, join(path, "tolerance"))
	}
	for name, dst := range map[string]*string{"header": &v.Header, "algorithm": &v.Algorithm, "encoding": &v.Encoding, "prefix": &v.Prefix, "template": &v.Template, "timestamp_header": &v.TimestampHeader} {
		if fd, ok := have[name]; ok {
			if v.Scheme != "" && v.Scheme != "hmac" {
				p.errorf(fd.key, join(path, name), "%s is a setting of the hmac scheme only", name)
				continue
			}
			*dst, _ = p.str(fd.val, join(path, name))
		}
	}
	if v.Scheme == "hmac" && v.Header == "" {
		p.errorf(deref(n), path, "the hmac scheme needs header: the request header that carries the signature")
	}
	return v
}

func (p *parser) events(n *yaml.Node, path string) []*EventRoute {
	items, _ := p.list(n, path)
	var out []*EventRoute
	names := map[string]bool{}
	for i, item := range items {
		ip := index(path, i)
		fields, ok := p.mapping(item, ip)
		if !ok {
			continue
		}
		have := p.checkFields(fields, ip, eventFields)
		p.requireFields(item, ip, have, "name", "webhook", "run")
		e := &EventRoute{Pos: posOf(deref(item))}
		if fd, ok := have["name"]; ok {
			if s, ok := p.nonEmptyStr(fd.val, join(ip, "name")); ok {
				if names[s] {
					p.errorf(deref(fd.val), join(ip, "name"), "event %q is routed twice", s)
				}
				names[s] = true
				e.Name = s
			}
		}
		if fd, ok := have["webhook"]; ok {
			e.Webhook = p.webhook(fd.val, join(ip, "webhook"), eventWebhookFs)
		}
		p.triggerExprs(func() {
			if fd, ok := have["run"]; ok {
				e.Run = p.expr(fd.val, join(ip, "run"), nil, wantAny)
			}
			if fd, ok := have["key"]; ok {
				e.Key = p.expr(fd.val, join(ip, "key"), nil, wantAny)
			}
			if fd, ok := have["data"]; ok {
				e.Data = p.value(fd.val, join(ip, "data"), nil)
			}
		})
		out = append(out, e)
	}
	return out
}
