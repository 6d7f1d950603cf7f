package definitions

import (
	"cmp"
	"math"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/relay-dev/relay/connectors"
)

var stepFields = []string{
	"id", "description",
	"call", "set", "if", "switch", "parallel", "foreach", "sleep", "wait", "flow",
	"with", "local", "then", "else", "default", "steps", "concurrency",
	"retry", "timeout", "on_error", "compensate",
}

var stepKinds = []StepKind{KindCall, KindSet, KindIf, KindSwitch, KindParallel, KindForeach, KindSleep, KindWait, KindFlow}

// kindOnly lists the fields that only some kinds of step accept.
var kindOnly = map[string][]StepKind{
	"with":        {KindCall, KindFlow},
	"local":       {KindCall},
	"then":        {KindIf},
	"else":        {KindIf},
	"default":     {KindSwitch},
	"steps":       {KindForeach},
	"concurrency": {KindForeach},
	"retry":       {KindCall, KindFlow},
}

func isKind(name string) bool {
	for _, k := range stepKinds {
		if string(k) == name {
			return true
		}
	}
	return false
}

func kindNames(kinds []StepKind) string {
	names := make([]string, len(kinds))
	for i, k := range kinds {
		names[i] = string(k)
	}
	return strings.Join(names, " or ")
}

func (p *parser) steps(n *yaml.Node, path string) []*Step {
	items, ok := p.list(n, path)
	if !ok {
		return nil
	}
	if len(items) == 0 {
		p.errorf(deref(n), path, "must list at least one step")
		return nil
	}
	out := make([]*Step, 0, len(items))
	for i, item := range items {
		if s := p.step(item, index(path, i)); s != nil {
			out = append(out, s)
		}
	}
	return out
}

func (p *parser) step(n *yaml.Node, path string) *Step {
	fields, ok := p.mapping(n, path)
	if !ok {
		return nil
	}
	n = deref(n)
	s := &Step{Pos: posOf(n)}
	m := &stepMeta{path: path}
	p.meta[s] = m
	have := p.checkFields(fields, path, stepFields)

	if fd, ok := have["id"]; ok {
		p.stepID(s, fd, join(path, "id"))
	} else {
		p.errorf(n, path, "missing required field \"id\"")
	}

	var kinds []StepKind
	for _, fd := range fields {
		if _, known := have[fd.name]; !known || !isKind(fd.name) {
			continue
		}
		if len(kinds) > 0 {
			p.errorf(fd.key, join(path, fd.name), "a step has exactly one kind, and this one is already %s step: split it into two steps", article(kinds[0]))
		}
		kinds = append(kinds, StepKind(fd.name))
	}
	if len(kinds) == 0 {
		p.errorf(n, path, "step has no kind: add one of %s", strings.ReplaceAll(kindNames(stepKinds), " or ", ", "))
	} else {
		s.Kind = kinds[0]
	}
	for _, fd := range fields {
		allowed, limited := kindOnly[fd.name]
		if _, known := have[fd.name]; !known || !limited || len(kinds) == 0 {
			continue
		}
		ok := false
		for _, k := range kinds {
			ok = ok || contains(kindStrings(allowed), string(k))
		}
		if !ok {
			p.errorf(fd.key, join(path, fd.name), "%s is only allowed in %s steps, and this is %s step", fd.name, kindNames(allowed), article(kinds[0]))
		}
	}

	var action *connectors.Action
	for _, fd := range fields {
		if _, known := have[fd.name]; !known {
			continue
		}
		fpath := join(path, fd.name)
		switch fd.name {
		case "description":
			s.Description, _ = p.str(fd.val, fpath)
		case "call":
			action = p.call(s, fd.val, fpath)
		case "with":
			s.With = p.value(fd.val, fpath, m)
			if s.With != nil && !s.With.IsMap && s.With.Expr == nil {
				p.errorf(deref(fd.val), fpath, "must be a mapping or a ${{ }} expression, got %s", describe(fd.val))
			}
		case "local":
			if b, ok := p.boolean(fd.val, fpath); ok {
				s.Local = &b
			}
		case "set":
			s.Set = p.assignments(fd.val, fpath, m)
		case "if":
			s.Cond = p.expr(fd.val, fpath, m, wantBool)
		case "then":
			s.Then = p.steps(fd.val, fpath)
		case "else":
			s.Else = p.steps(fd.val, fpath)
		case "switch":
			s.Cases = p.cases(fd.val, fpath, m)
		case "default":
			s.Default = p.steps(fd.val, fpath)
		case "parallel":
			s.Branches = p.branches(fd.val, fpath)
		case "foreach":
			s.Items = p.expr(fd.val, fpath, m, wantList)
		case "steps":
			s.Body = p.steps(fd.val, fpath)
		case "concurrency":
			s.Concurrency, _ = p.positiveInt(fd.val, fpath)
		case "sleep":
			s.Duration, _ = p.duration(fd.val, fpath)
		case "wait":
			s.Wait = p.wait(fd.val, fpath, m)
		case "flow":
			if name, ok := p.str(fd.val, fpath); ok {
				if flowIDPattern.MatchString(name) {
					s.Flow = name
				} else {
					p.errorf(deref(fd.val), fpath, "invalid flow id %q: use lowercase letters, digits, '.', '_' and '-', starting with a letter or digit", name)
				}
			}
		case "retry":
			s.Retry = p.retry(fd.val, fpath)
		case "timeout":
			s.Timeout, _ = p.duration(fd.val, fpath)
		case "on_error":
			s.OnError = p.onError(fd.val, fpath, "on_error", m)
		case "compensate":
			s.Compensate = p.steps(fd.val, fpath)
			if p.compensating == nil {
				p.compensating = map[*Step]bool{}
			}
			Walk(s.Compensate, func(c *Step) bool {
				p.compensating[c] = true
				return true
			})
		}
	}

	switch s.Kind {
	case KindIf:
		p.requireFields(n, path, have, "then")
	case KindForeach:
		p.requireFields(n, path, have, "steps")
		if s.Concurrency == 0 {
			s.Concurrency = 1
		}
	case KindCall:
		if action != nil {
			withNode := n
			if fd, ok := have["with"]; ok {
				withNode = deref(fd.val)
			}
			p.params(s, action, withNode, path)
		}
	case KindFlow:
		if s.Flow != "" {
			wpath := path
			if _, ok := have["with"]; ok {
				wpath = join(path, "with")
			}
			p.refs = append(p.refs, flowRef{flow: s.Flow, pos: posOf(deref(have["flow"].val)), path: join(path, "flow"), with: s.With, withPath: wpath})
		}
	}
	return s
}

func article(k StepKind) string {
	if k == KindIf {
		return "an if"
	}
	return "a " + string(k)
}

func kindStrings(kinds []StepKind) []string {
	out := make([]string, len(kinds))
	for i, k := range kinds {
		out[i] = string(k)
	}
	return out
}

func (p *parser) stepID(s *Step, fd field, path string) {
	id, ok := p.str(fd.val, path)
	if !ok {
		return
	}
	v := deref(fd.val)
	if !identifierPattern.MatchString(id) {
		p.errorf(v, path, "invalid step id %q: use letters, digits and '_', starting with a letter or '_' (it is read as steps.<id> in expressions)", id)
		return
	}
	s.ID = id
	if first, dup := p.ids[id]; dup {
		p.errorf(v, path, "duplicate step id %q (first defined at line %d)", id, first.Pos.Line)
		return
	}
	p.ids[id] = s
}

// call resolves `call: <connection>.<action>`.
func (p *parser) call(s *Step, n *yaml.Node, path string) *connectors.Action {
	ref, ok := p.str(n, path)
	if !ok {
		return nil
	}
	n = deref(n)
	conn, action, ok := strings.Cut(ref, ".")
	if !ok || conn == "" || action == "" {
		p.errorf(n, path, "invalid call %q: use <connection>.<action>, such as crm.request", ref)
		return nil
	}
	s.Connection, s.Action = conn, action
	connector, declared := p.conns[conn]
	if !declared {
		if len(p.conns) == 0 {
			p.errorf(n, path, "unknown connection %q: declare it under connections", conn)
		} else {
			p.errorf(n, path, "unknown connection %q; declared: %s", conn, strings.Join(sortedNames(p.conns), ", "))
		}
		return nil
	}
	s.Connector = connector
	if connector == "" || p.reg == nil {
		return nil
	}
	c := p.reg.Lookup(connector)
	if c == nil {
		return nil
	}
	a := c.Action(action)
	if a == nil {
		names := make([]string, len(c.Actions))
		for i, x := range c.Actions {
			names[i] = x.Name
		}
		p.errorf(n, path, "connector %s has no action %q; actions: %s", connector, action, strings.Join(names, ", "))
		return nil
	}
	return a
}

// params checks a call's `with:` against the action's parameters. A with
// that is one expression is checked when it runs.
func (p *parser) params(s *Step, a *connectors.Action, withNode *yaml.Node, path string) {
	name := connectors.ActivityType(s.Connector, a.Name)
	if s.With != nil && !s.With.IsMap {
		return
	}
	wpath := path
	if s.With != nil {
		wpath = join(path, "with")
	}
	given := map[string]bool{}
	var names []string
	for _, prm := range a.Params {
		names = append(names, prm.Name)
	}
	if s.With != nil {
		for _, e := range s.With.Map {
			given[e.Key] = true
			epath := join(wpath, e.Key)
			prm := findParam(a, e.Key)
			if prm == nil {
				list := "it takes none"
				if len(names) > 0 {
					list = "parameters: " + strings.Join(names, ", ")
				}
				p.errorAt(e.Value.Pos, epath, "unknown parameter %q for %s; %s", e.Key, name, list)
				continue
			}
			if len(e.Value.Exprs()) > 0 {
				continue
			}
			lit, err := e.Value.Eval(&Env{})
			if err != nil {
				continue
			}
			if prm.Secret {
				if ref, ok := lit.(string); ok {
					if msg := checkSecretRef(ref); msg != "" {
						p.errorAt(e.Value.Pos, epath, "%s", msg)
					}
					continue
				}
			}
			if msg := checkType(prm.Type, lit); msg != "" && lit != nil {
				p.errorAt(e.Value.Pos, epath, "parameter %q of %s must be of type %s: %s", e.Key, name, prm.Type, msg)
			}
		}
	}
	for _, prm := range a.Params {
		if prm.Required && prm.Default == nil && !given[prm.Name] {
			p.errorf(withNode, wpath, "missing required parameter %q for %s", prm.Name, name)
		}
	}
}

func findParam(a *connectors.Action, name string) *connectors.Param {
	for i := range a.Params {
		if a.Params[i].Name == name {
			return &a.Params[i]
		}
	}
	return nil
}

// errorAt is errorf at a position rather than a node.
func (p *parser) errorAt(pos Pos, path, format string, args ...any) {
	p.errorf(&yaml.Node{Line: pos.Line, Column: pos.Col}, path, format, args...)
}

func (p *parser) assignments(n *yaml.Node, path string, m *stepMeta) []*Assignment {
	fields, ok := p.mapping(n, path)
	if !ok {
		return nil
	}
	if len(fields) == 0 {
		p.errorf(deref(n), path, "must assign at least one variable")
	}
	var out []*Assignment
	for _, fd := range fields {
		apath := join(path, fd.name)
		if !identifierPattern.MatchString(fd.name) {
			p.errorf(fd.key, apath, "invalid variable name %q: use letters, digits and '_', starting with a letter or '_' (it is read as vars.<name>)", fd.name)
			continue
		}
		if v := p.value(fd.val, apath, m); v != nil {
			out = append(out, &Assignment{Name: fd.name, Value: v, Pos: posOf(fd.key)})
		}
	}
	return out
}

func (p *parser) cases(n *yaml.Node, path string, m *stepMeta) []*Case {
	items, ok := p.list(n, path)
	if !ok {
		return nil
	}
	if len(items) == 0 {
		p.errorf(deref(n), path, "must list at least one case")
	}
	var out []*Case
	for i, item := range items {
		cpath := index(path, i)
		fields, ok := p.mapping(item, cpath)
		if !ok {
			continue
		}
		c := &Case{Pos: posOf(deref(item))}
		have := p.checkFields(fields, cpath, []string{"when", "steps"})
		p.requireFields(item, cpath, have, "when", "steps")
		if fd, ok := have["when"]; ok {
			c.When = p.expr(fd.val, join(cpath, "when"), m, wantBool)
		}
		if fd, ok := have["steps"]; ok {
			c.Steps = p.steps(fd.val, join(cpath, "steps"))
		}
		out = append(out, c)
	}
	return out
}

func (p *parser) branches(n *yaml.Node, path string) []*Branch {
	items, ok := p.list(n, path)
	if !ok {
		return nil
	}
	if len(items) == 0 {
		p.errorf(deref(n), path, "must list at least one branch")
	}
	var out []*Branch
	names := map[string]int{}
	for i, item := range items {
		bpath := index(path, i)
		fields, ok := p.mapping(item, bpath)
		if !ok {
			continue
		}
		b := &Branch{Pos: posOf(deref(item))}
		have := p.checkFields(fields, bpath, []string{"name", "steps"})
		p.requireFields(item, bpath, have, "steps")
		if fd, ok := have["name"]; ok {
			if name, ok := p.nonEmptyStr(fd.val, join(bpath, "name")); ok {
				if line, dup := names[name]; dup {
					p.errorf(deref(fd.val), join(bpath, "name"), "duplicate branch name %q (first at line %d)", name, line)
				}
				names[name] = deref(fd.val).Line
				b.Name = name
			}
		}
		if fd, ok := have["steps"]; ok {
			b.Steps = p.steps(fd.val, join(bpath, "steps"))
		}
		out = append(out, b)
	}
	return out
}

var waitFields = []string{"event", "correlation", "timeout", "on_timeout"}

func (p *parser) wait(n *yaml.Node, path string, m *stepMeta) *Wait {
	fields, ok := p.mapping(n, path)
	if !ok {
		return nil
	}
	w := &Wait{}
	have := p.checkFields(fields, path, waitFields)
	p.requireFields(n, path, have, "event")
	if fd, ok := have["event"]; ok {
		w.Event, _ = p.nonEmptyStr(fd.val, join(path, "event"))
	}
	if fd, ok := have["correlation"]; ok {
		w.Correlation = p.expr(fd.val, join(path, "correlation"), m, wantAny)
	}
	if fd, ok := have["timeout"]; ok {
		w.Timeout, _ = p.duration(fd.val, join(path, "timeout"))
	}
	if fd, ok := have["on_timeout"]; ok {
		w.OnTimeout = p.onError(fd.val, join(path, "on_timeout"), "on_timeout", m)
		if _, ok := have["timeout"]; !ok {
			p.errorf(fd.key, join(path, "on_timeout"), "on_timeout needs a timeout")
		}
	}
	return w
}

// The retry policy of a call or flow step that leaves these unset; the
// interpreter's (workflows/steps.go), which Temporal requires to keep
// initial_interval at most max_interval.
const (
	DefaultRetryInitialInterval = time.Second
	DefaultRetryMaxInterval     = time.Minute
)

var retryFields = []string{"max_attempts", "initial_interval", "max_interval", "backoff_coefficient", "jitter", "non_retryable"}

func (p *parser) retry(n *yaml.Node, path string) *RetryPolicy {
	fields, ok := p.mapping(n, path)
	if !ok {
		return nil
	}
	r := &RetryPolicy{}
	have := p.checkFields(fields, path, retryFields)
	if fd, ok := have["max_attempts"]; ok {
		r.MaxAttempts, _ = p.positiveInt32(fd.val, join(path, "max_attempts"))
	}
	if fd, ok := have["initial_interval"]; ok {
		r.InitialInterval, _ = p.duration(fd.val, join(path, "initial_interval"))
	}
	if fd, ok := have["max_interval"]; ok {
		r.MaxInterval, _ = p.duration(fd.val, join(path, "max_interval"))
		switch {
		case r.MaxInterval == 0:
		case r.InitialInterval > 0 && r.MaxInterval < r.InitialInterval:
			p.errorf(deref(fd.val), join(path, "max_interval"), "max_interval %s is shorter than initial_interval %s", r.MaxInterval, r.InitialInterval)
		case r.InitialInterval == 0 && r.MaxInterval < DefaultRetryInitialInterval && !p.pinned:
			if _, set := have["initial_interval"]; !set {
				p.errorf(deref(fd.val), join(path, "max_interval"), "max_interval %s is shorter than the default initial_interval %s, which Temporal refuses: set initial_interval too", r.MaxInterval, DefaultRetryInitialInterval)
			}
		}
	} else if fd, ok := have["initial_interval"]; ok && r.InitialInterval > DefaultRetryMaxInterval && !p.pinned {
		p.errorf(deref(fd.val), join(path, "initial_interval"), "initial_interval %s is longer than the default max_interval %s, which Temporal refuses: set max_interval too", r.InitialInterval, DefaultRetryMaxInterval)
	}
	if fd, ok := have["backoff_coefficient"]; ok {
		if c, ok := p.number(fd.val, join(path, "backoff_coefficient")); ok {
			if c < 1 {
				p.errorf(deref(fd.val), join(path, "backoff_coefficient"), "must be at least 1, got %v", c)
			} else {
				r.BackoffCoefficient = c
			}
		}
	}
	if fd, ok := have["jitter"]; ok {
		if j, ok := p.number(fd.val, join(path, "jitter")); ok {
			longest := cmp.Or(r.MaxInterval, DefaultRetryMaxInterval)
			switch {
			case j < 0 || j > 1:
				p.errorf(deref(fd.val), join(path, "jitter"), "must be between 0 and 1 (a fraction of each delay), got %v", j)
			case float64(longest)*(1+j) >= math.MaxInt64 && !p.pinned:
				p.errorf(deref(fd.val), join(path, "jitter"), "jitter %v stretches max_interval %s beyond the longest duration, %s: lower one of them", j, longest, time.Duration(math.MaxInt64))
			default:
				r.Jitter = j
			}
		}
	}
	if fd, ok := have["non_retryable"]; ok {
		items, _ := p.list(fd.val, join(path, "non_retryable"))
		for i, item := range items {
			if s, ok := p.nonEmptyStr(item, index(join(path, "non_retryable"), i)); ok {
				r.NonRetryable = append(r.NonRetryable, s)
			}
		}
	}
	return r
}

func (p *parser) onError(n *yaml.Node, path, name string, m *stepMeta) OnError {
	n = deref(n)
	switch n.Kind {
	case yaml.ScalarNode:
		if n.ShortTag() == "!!str" {
			switch n.Value {
			case "fail":
				return OnError{Action: OnErrorFail}
			case "continue":
				return OnError{Action: OnErrorContinue}
			case "park":
				if name == "on_error" {
					return OnError{Action: OnErrorPark}
				}
			case "halt":
				if name == "on_error" {
					return OnError{Action: OnErrorHalt}
				}
			}
		}
		if name == "on_error" {
			p.errorf(n, path, "invalid %s %q: use fail, continue, halt, park or {goto: <step id>}", name, n.Value)
		} else {
			p.errorf(n, path, "invalid %s %q: use fail, continue or {goto: <step id>}", name, n.Value)
		}
	case yaml.MappingNode:
		fields, _ := p.mapping(n, path)
		have := p.checkFields(fields, path, []string{"goto"})
		fd, ok := have["goto"]
		if !ok {
			p.errorf(n, path, "missing required field \"goto\"")
			return OnError{}
		}
		target, ok := p.nonEmptyStr(fd.val, join(path, "goto"))
		if !ok {
			return OnError{}
		}
		m.gotos = append(m.gotos, gotoAt{target: target, node: deref(fd.val), path: join(path, "goto")})
		return OnError{Action: OnErrorGoto, Goto: target}
	default:
		p.errorf(n, path, "invalid %s: use fail, continue or {goto: <step id>}, not %s", name, describe(n))
	}
	return OnError{}
}
