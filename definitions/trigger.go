package definitions

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/relay-dev/relay/secrets"
)

// Trigger says what starts a flow's runs.
type Trigger struct {
	// Webhook starts one run per verified delivery.
	Webhook *Webhook
	// Schedule starts runs at set times, through a Temporal Schedule that
	// relay reconciles from the definitions.
	Schedule *Schedule
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
	// Start, when set, maps the event to the flow's input: if the run does
	// not exist yet it is started with that input and the event
	// (signal-with-start), so an event never waits for its run to begin.
	Start *Value
	Pos   Pos
}

// DefaultMaxBody is a webhook's body limit unless it says otherwise.
const DefaultMaxBody = 1 << 20

var (
	verifySchemes  = []string{"standard_webhooks", "stripe", "github", "shopify", "slack", "hmac"}
	triggerFields  = []string{"webhook", "schedule"}
	webhookFields  = []string{"path", "verify", "dedupe", "filter", "input", "max_body"}
	verifyFields   = []string{"scheme", "secrets", "tolerance", "header", "algorithm", "encoding", "prefix", "template", "timestamp_header"}
	eventFields    = []string{"name", "webhook", "run", "key", "data", "start"}
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
	if fd, ok := have["schedule"]; ok {
		t.Schedule = p.schedule(fd.val, join(path, "schedule"))
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
			w.Input = p.inputMapping(fd.val, join(path, "input"))
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
			if fd, ok := have["start"]; ok {
				e.Start = p.inputMapping(fd.val, join(ip, "start"))
			}
		})
		out = append(out, e)
	}
	return out
}

// Schedule starts a flow's runs at set times: on a cron calendar or every
// fixed interval. Exactly one of Cron and Interval is set.
type Schedule struct {
	// Cron is five fields (minute hour day-of-month month day-of-week) or a
	// shorthand such as @daily, read in Timezone. Temporal reads it by the
	// wall clock: a time the clocks skip at a daylight saving change does
	// not happen, and a time they repeat happens twice, so a cron at a
	// fixed hour that meets such a change in the coming years is refused.
	Cron string
	// Interval starts a run every Interval, Offset after each multiple of
	// Interval since the Unix epoch (1h with offset 5m: at every xx:05).
	Interval time.Duration
	Offset   time.Duration
	// Timezone is the IANA zone Cron is read in; UTC unless set.
	Timezone string
	// Overlap is what happens when a run is due while the last one still
	// runs; one of ScheduleOverlaps, skip unless set.
	Overlap string
	// CatchupWindow bounds how late a run missed during an outage may still
	// start; zero leaves Temporal's default (one year).
	CatchupWindow time.Duration
	// PauseOnFailure pauses the schedule when a run fails.
	PauseOnFailure bool
	// Jitter delays each run by a random time up to Jitter.
	Jitter time.Duration
	// Input is the input of every run; it holds no expressions.
	Input map[string]any
	Pos   Pos
}

// Overlap policies of a schedule, as Temporal names them.
const (
	OverlapSkip           = "skip"
	OverlapBufferOne      = "buffer_one"
	OverlapBufferAll      = "buffer_all"
	OverlapCancelOther    = "cancel_other"
	OverlapTerminateOther = "terminate_other"
	OverlapAllowAll       = "allow_all"
)

// ScheduleOverlaps lists the overlap policies a schedule may name.
var ScheduleOverlaps = []string{OverlapSkip, OverlapBufferOne, OverlapBufferAll, OverlapCancelOther, OverlapTerminateOther, OverlapAllowAll}

// DefaultTimezone is a schedule's time zone unless it names one.
const DefaultTimezone = "UTC"

// MinCatchupWindow is the shortest catchup window Temporal honours; shorter
// ones are silently raised to it, so relay refuses them.
const MinCatchupWindow = 10 * time.Second

var (
	scheduleFields = []string{"cron", "interval", "offset", "timezone", "overlap", "catchup_window", "pause_on_failure", "jitter", "input"}
	monthNames     = []string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}
	monthLong      = []string{"january", "february", "march", "april", "may", "june", "july", "august", "september", "october", "november", "december"}
	dayNames       = []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}
	dayLong        = []string{"sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"}
)

func (p *parser) schedule(n *yaml.Node, path string) *Schedule {
	fields, ok := p.mapping(n, path)
	if !ok {
		return nil
	}
	have := p.checkFields(fields, path, scheduleFields)
	s := &Schedule{Timezone: DefaultTimezone, Overlap: OverlapSkip, Pos: posOf(deref(n))}
	cron, hasCron := have["cron"]
	interval, hasInterval := have["interval"]
	switch {
	case hasCron && hasInterval:
		p.errorf(interval.key, join(path, "interval"), "a schedule has either cron or interval, not both")
	case !hasCron && !hasInterval:
		p.errorf(deref(n), path, "a schedule needs cron (such as \"0 6 * * *\") or interval (such as 15m)")
	}
	if hasCron {
		cpath := join(path, "cron")
		if c, ok := p.nonEmptyStr(cron.val, cpath); ok {
			if msg := checkCron(c); msg != "" {
				p.errorf(deref(cron.val), cpath, "invalid cron %q: %s", c, msg)
			} else {
				s.Cron = strings.Join(strings.Fields(c), " ")
			}
		}
	}
	if hasInterval {
		s.Interval, _ = p.wholeSeconds(interval.val, join(path, "interval"))
	}
	if fd, ok := have["offset"]; ok {
		opath := join(path, "offset")
		switch d, ok := p.wholeSeconds(fd.val, opath); {
		case !ok:
		case !hasInterval:
			p.errorf(fd.key, opath, "offset applies to interval only; a cron expression says its own minute")
		case s.Interval > 0 && d >= s.Interval:
			p.errorf(deref(fd.val), opath, "offset %s must be shorter than the interval %s", strings.TrimSpace(deref(fd.val).Value), strings.TrimSpace(deref(interval.val).Value))
		default:
			s.Offset = d
		}
	}
	if fd, ok := have["timezone"]; ok {
		tpath := join(path, "timezone")
		if tz, ok := p.nonEmptyStr(fd.val, tpath); ok {
			switch _, err := time.LoadLocation(tz); {
			case err != nil || tz == "Local":
				p.errorf(deref(fd.val), tpath, "unknown time zone %q: use an IANA name such as Europe/Berlin, America/New_York or UTC", tz)
			case hasInterval && !hasCron:
				p.errorf(fd.key, tpath, "timezone applies to cron only; an interval counts from the Unix epoch (use offset to shift it)")
			default:
				s.Timezone = tz
			}
		}
	}
	if s.Cron != "" && !p.pinned {
		if msg := cmp.Or(cronDays(s.Cron), cronNever(s.Cron)); msg != "" {
			p.errorf(deref(cron.val), join(path, "cron"), "invalid cron %q: %s", s.Cron, msg)
		} else if msg := dstClash(s.Cron, s.Timezone, time.Now()); msg != "" {
			p.errorf(deref(cron.val), join(path, "cron"), "cron %q in %s: %s", s.Cron, s.Timezone, msg)
		}
	}
	if fd, ok := have["overlap"]; ok {
		if o, ok := p.str(fd.val, join(path, "overlap")); ok {
			if contains(ScheduleOverlaps, o) {
				s.Overlap = o
			} else {
				p.errorf(deref(fd.val), join(path, "overlap"), "unknown overlap policy %q; policies: %s", o, strings.Join(ScheduleOverlaps, ", "))
			}
		}
	}
	if fd, ok := have["catchup_window"]; ok {
		if d, ok := p.duration(fd.val, join(path, "catchup_window")); ok {
			if d < MinCatchupWindow {
				p.errorf(deref(fd.val), join(path, "catchup_window"), "catchup_window must be at least %s (Temporal's minimum), got %s", MinCatchupWindow, d)
			} else {
				s.CatchupWindow = d
			}
		}
	}
	if fd, ok := have["pause_on_failure"]; ok {
		s.PauseOnFailure, _ = p.boolean(fd.val, join(path, "pause_on_failure"))
	}
	if fd, ok := have["jitter"]; ok {
		s.Jitter, _ = p.duration(fd.val, join(path, "jitter"))
	}
	switch fd, ok := have["input"]; {
	case !ok:
		p.scheduleRequired(s.Input, deref(n), path)
	default:
		ipath := join(path, "input")
		if s.Input = p.scheduleInput(fd.val, ipath); s.Input != nil {
			p.scheduleRequired(s.Input, deref(fd.val), ipath)
		}
	}
	return s
}

// scheduleRequired reports the required inputs a schedule's input lacks
// (or gives as null), at n: no scheduled run could start.
func (p *parser) scheduleRequired(in map[string]any, n *yaml.Node, path string) {
	if p.pinned {
		return
	}
	for _, decl := range p.required {
		if in[decl.Name] == nil {
			p.errorf(n, path, "missing required input %q (declared at line %d): no scheduled run can start without it", decl.Name, decl.Pos.Line)
		}
	}
}

// wholeSeconds reads a duration of at least one second with no fraction
// of a second: Temporal counts schedule intervals in seconds.
func (p *parser) wholeSeconds(n *yaml.Node, path string) (time.Duration, bool) {
	d, ok := p.duration(n, path)
	if !ok {
		return 0, false
	}
	if d < time.Second || d%time.Second != 0 {
		p.errorf(deref(n), path, "must be whole seconds, at least 1s, got %s", deref(n).Value)
		return 0, false
	}
	return d, true
}

// scheduleInput reads a schedule's static input. Inputs the flow does not
// declare, and values not of their input's type, are refused here, as the
// flow's BindInput refuses them when the schedule is reconciled (required
// inputs: scheduleRequired); a pinned definition is not checked again.
func (p *parser) scheduleInput(n *yaml.Node, path string) map[string]any {
	fields, ok := p.mapping(n, path)
	if !ok {
		return nil
	}
	out := make(map[string]any, len(fields))
	for _, fd := range fields {
		ipath := join(path, fd.name)
		if !p.declaredInput(fd, ipath) {
			continue
		}
		v, ok := p.plain(fd.val, ipath)
		if !ok {
			continue
		}
		if at := exprIn(fd.val, ipath); at != nil {
			p.errorf(at.node, at.path, "a schedule's input is static: ${{ }} is not evaluated here (a scheduled run has no event to read)")
			continue
		}
		if d := p.decls[fd.name]; d != nil && v != nil && !p.pinned {
			if msg := checkType(d.Type, v); msg != "" {
				p.errorf(deref(fd.val), ipath, "input %q: %s", fd.name, msg)
				continue
			}
		}
		out[fd.name] = v
	}
	return out
}

// declaredInput reports whether the key of a mapping to the flow's input
// names a declared input, and reports it when it does not.
func (p *parser) declaredInput(fd field, path string) bool {
	if p.decls[fd.name] != nil {
		return true
	}
	hint, list := "", "the flow declares no inputs"
	if len(p.decls) > 0 {
		names := sortedNames(p.decls)
		list = "inputs: " + strings.Join(names, ", ")
		hint = didYouMean(fd.name, names)
	}
	p.errorf(fd.key, path, "input %q is not declared by the flow%s; %s", fd.name, hint, list)
	return false
}

// inputMapping decodes what a trigger maps a delivery to: the input of the
// run it starts (a webhook's input, an event's start). A mapping must name
// declared inputs only, and every required input; one ${{ }} expression is
// checked when it runs.
func (p *parser) inputMapping(n *yaml.Node, path string) *Value {
	if p.pinned {
		return p.value(n, path, nil)
	}
	if deref(n).Kind != yaml.MappingNode {
		v := p.value(n, path, nil)
		if v != nil && v.Expr == nil {
			p.errorf(deref(n), path, "must be a mapping of the flow's inputs or one ${{ }} expression that gives one, got %s", describe(n))
			return nil
		}
		return v
	}
	fields, _ := p.mapping(n, path)
	given := map[string]bool{}
	for _, fd := range fields {
		given[fd.name] = true
		p.declaredInput(fd, join(path, fd.name))
	}
	for _, in := range p.required {
		if !given[in.Name] {
			p.errorf(deref(n), path, "missing required input %q (declared at line %d): no run can start without it", in.Name, in.Pos.Line)
		}
	}
	return p.mapValue(posOf(deref(n)), fields, path, nil)
}

type nodeAt struct {
	node *yaml.Node
	path string
}

// exprIn finds the first string under n that holds "${{".
func exprIn(n *yaml.Node, path string) *nodeAt {
	n = deref(n)
	switch n.Kind {
	case yaml.ScalarNode:
		if n.ShortTag() == "!!str" && strings.Contains(n.Value, "${{") {
			return &nodeAt{node: n, path: path}
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if at := exprIn(n.Content[i+1], join(path, deref(n.Content[i]).Value)); at != nil {
				return at
			}
		}
	case yaml.SequenceNode:
		for i, item := range n.Content {
			if at := exprIn(item, index(path, i)); at != nil {
				return at
			}
		}
	}
	return nil
}

// cronField is one field of a five-field cron expression.
type cronField struct {
	name       string
	min, max   int
	short, lng []string // names of the values from min (months) or 0 (days)
}

var cronLayout = []cronField{
	{name: "minute", min: 0, max: 59},
	{name: "hour", min: 0, max: 23},
	{name: "day of month", min: 1, max: 31},
	{name: "month", min: 1, max: 12, short: monthNames, lng: monthLong},
	{name: "day of week", min: 0, max: 7, short: dayNames, lng: dayLong},
}

// cronShorthands are the shorthands a cron may be, each with the five
// fields Temporal reads it as.
var cronShorthands = []struct{ name, fields string }{
	{"@yearly", "0 0 1 1 *"},
	{"@annually", "0 0 1 1 *"},
	{"@monthly", "0 0 1 * *"},
	{"@weekly", "0 0 * * 0"},
	{"@daily", "0 0 * * *"},
	{"@midnight", "0 0 * * *"},
	{"@hourly", "0 * * * *"},
}

// checkCron returns what is wrong with a cron expression, or "". It
// accepts what Temporal's parser accepts for five fields: *, values,
// ranges a-b, steps */n, a/n and a-b/n, lists with commas, month and
// weekday names (jan, january, mon, monday), 0 or 7 for Sunday.
func checkCron(expr string) string {
	s := strings.TrimSpace(expr)
	switch {
	case strings.HasPrefix(s, "TZ=") || strings.HasPrefix(s, "CRON_TZ="):
		return "set the time zone with timezone:, not inside the expression"
	case strings.HasPrefix(s, "@every"):
		return "for a fixed period use interval: instead"
	case strings.HasPrefix(s, "@"):
		if _, ok := cronShorthand(s); ok {
			return ""
		}
		names := make([]string, len(cronShorthands))
		for i, sh := range cronShorthands {
			names[i] = sh.name
		}
		return "unknown shorthand; shorthands: " + strings.Join(names, ", ")
	}
	fields := strings.Fields(s)
	if len(fields) != 5 {
		return fmt.Sprintf("has %d fields, want 5: minute hour day-of-month month day-of-week (with no seconds or year field, which tools read differently)", len(fields))
	}
	for i, f := range fields {
		if msg := cronLayout[i].check(f); msg != "" {
			return msg
		}
	}
	return ""
}

// cronDays returns what is wrong with the days of a valid cron expression,
// or "": a day of month and a day of week both set (neither starts with
// *). cron runs on the days either matches, Temporal only on the days
// both match, and the same text must not mean fewer runs.
func cronDays(expr string) string {
	fields := cronFields(expr)
	if len(fields) != len(cronLayout) {
		return ""
	}
	if dom, dow := fields[2], fields[4]; !strings.HasPrefix(dom, "*") && !strings.HasPrefix(dow, "*") {
		return fmt.Sprintf("day of month %q and day of week %q are both set: cron runs on the days either matches, Temporal only on the days both match; make one of them *", dom, dow)
	}
	return ""
}

// cronNever returns why a valid cron expression never runs, or "": its
// days of month fall in none of its months (`0 0 31 2 *`, `0 0 30 2 *`).
// February counts 29 days, so the 29th runs in leap years.
func cronNever(expr string) string {
	fields := cronFields(expr)
	if len(fields) != len(cronLayout) || strings.HasPrefix(fields[2], "*") {
		return ""
	}
	days, months := cronLayout[2].set(fields[2]), cronLayout[3].set(fields[3])
	for m := 1; m <= 12; m++ {
		if !months[m] {
			continue
		}
		last := time.Date(2024, time.Month(m)+1, 0, 0, 0, 0, 0, time.UTC).Day() // 2024: a leap year
		if slices.Contains(days[1:last+1], true) {
			return ""
		}
	}
	return fmt.Sprintf("day of month %q falls in none of the months %q: it never runs", fields[2], fields[3])
}

func (c cronField) check(field string) string {
	for _, part := range strings.Split(field, ",") {
		base, step, hasStep := strings.Cut(part, "/")
		if hasStep {
			n, err := strconv.Atoi(step)
			if err != nil || n < 1 {
				return fmt.Sprintf("%s step %q must be a whole number of at least 1", c.name, step)
			}
		}
		if base == "*" {
			continue
		}
		lo, hi, isRange := strings.Cut(base, "-")
		a, msg := c.value(lo)
		if msg != "" {
			return msg
		}
		if !isRange {
			continue
		}
		b, msg := c.value(hi)
		if msg != "" {
			return msg
		}
		if b < a {
			return fmt.Sprintf("%s range %q ends before it starts", c.name, base)
		}
	}
	return ""
}

// set returns which values a valid field matches, indexed by value.
func (c cronField) set(field string) []bool {
	in := make([]bool, c.max+1)
	for _, part := range strings.Split(field, ",") {
		base, stepText, hasStep := strings.Cut(part, "/")
		step := 1
		if hasStep {
			step, _ = strconv.Atoi(stepText)
		}
		lo, hi := c.min, c.max
		if base != "*" {
			a, b, isRange := strings.Cut(base, "-")
			lo, _ = c.value(a)
			switch {
			case isRange:
				hi, _ = c.value(b)
			case !hasStep:
				hi = lo
			}
		}
		for v := lo; v <= hi; v += step {
			in[v] = true
		}
	}
	if c.name == "day of week" && in[7] {
		in[0] = true // 7 is Sunday too
	}
	return in
}

// cronFields returns the five fields of a valid cron expression, with a
// shorthand written out as Temporal reads it.
func cronFields(expr string) []string {
	s := strings.TrimSpace(expr)
	if fields, ok := cronShorthand(s); ok {
		s = fields
	}
	return strings.Fields(s)
}

// cronShorthand returns the five fields shorthand s (such as @daily)
// stands for, and false when s is none.
func cronShorthand(s string) (string, bool) {
	for _, sh := range cronShorthands {
		if sh.name == s {
			return sh.fields, true
		}
	}
	return "", false
}

// dstYears is how far ahead dstClash looks for daylight saving changes.
const dstYears = 5

// dstClash returns how a valid cron expression at a fixed hour (its hour
// field does not start with *) fares at the daylight saving changes of
// time zone tz in the dstYears after from, or "" when none meets it.
// Temporal matches the wall clock, as it reads the fields (day of month
// and day of week both): a time the clocks skip has no run, and a time
// they repeat has two. An expression whose hour field starts with * runs
// at every hour that exists, which is what it asks for.
func dstClash(expr, tz string, from time.Time) string {
	fields := cronFields(expr)
	if len(fields) != len(cronLayout) || strings.HasPrefix(fields[1], "*") {
		return ""
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return ""
	}
	sets := make([][]bool, len(fields))
	for i, f := range fields {
		sets[i] = cronLayout[i].set(f)
	}
	if !slices.Contains(sets[1], false) {
		return "" // every hour, written out
	}
	matches := func(w time.Time) bool {
		return sets[0][w.Minute()] && sets[1][w.Hour()] && sets[2][w.Day()] && sets[3][int(w.Month())] && sets[4][int(w.Weekday())]
	}
	var twice, never string
	end := from.AddDate(dstYears, 0, 0)
	for t := from; twice == "" || never == ""; {
		_, change := t.In(loc).ZoneBounds()
		if change.IsZero() || change.After(end) {
			break
		}
		t = change
		_, before := change.Add(-time.Second).In(loc).Zone()
		_, after := change.In(loc).Zone()
		if before == after {
			continue
		}
		// The wall times skipped (forward) or repeated (back) start at
		// the change read with the smaller offset, and last the shift.
		wall := change.In(time.FixedZone(tz, min(before, after)))
		shift := time.Duration(after-before) * time.Second
		for w := wall; w.Before(wall.Add(shift.Abs())); w = w.Add(time.Minute) {
			if !matches(w) {
				continue
			}
			at := w.Format("15:04") + " on " + w.Format(time.DateOnly)
			switch {
			case shift < 0 && twice == "":
				twice = at + " happens twice (the clocks go back), and Temporal starts a run at each"
			case shift > 0 && never == "":
				never = at + " does not happen at all (the clocks go forward), and Temporal skips that run"
			}
			break
		}
	}
	if twice == "" && never == "" {
		return ""
	}
	msg := strings.Join(slices.DeleteFunc([]string{twice, never}, func(s string) bool { return s == "" }), "; ")
	return msg + ". Pick a time the clocks do not change at, or timezone: UTC"
}

// value reads one value of the field: a number in range or a name.
func (c cronField) value(s string) (int, string) {
	lower := strings.ToLower(s)
	for i := range c.short {
		if lower == c.short[i] || lower == c.lng[i] {
			if c.name == "month" {
				return i + 1, ""
			}
			return i, ""
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < c.min || n > c.max {
		hint := ""
		if c.short != nil {
			hint = " or a name such as " + c.short[1]
		}
		return 0, fmt.Sprintf("%s %q must be %d-%d%s", c.name, s, c.min, c.max, hint)
	}
	return n, ""
}
