package definitions

import (
	"reflect"
	"testing"
	"time"
)

func TestFullFixtureStructure(t *testing.T) {
	f := parseFile(t, "testdata/valid/full.yaml")

	if f.ID != "full-example" || f.Version != 3 || f.Description != "Exercises every part of the language." {
		t.Errorf("header = %q %d %q", f.ID, f.Version, f.Description)
	}
	var names []string
	for _, in := range f.Inputs {
		names = append(names, in.Name+":"+in.Type)
	}
	wantInputs := []string{"order_id:string", "amount:number", "count:integer", "express:boolean", "customer:object", "items:array", "extra:any"}
	if !reflect.DeepEqual(names, wantInputs) {
		t.Errorf("inputs = %v, want %v", names, wantInputs)
	}
	if in := f.Inputs[0]; !in.Required || in.Pos != (Pos{6, 3}) || in.Description != "The shop's order ID." {
		t.Errorf("order_id = %+v", in)
	}
	if got := f.Inputs[4].Default; !reflect.DeepEqual(got, map[string]any{"name": "Ada", "tags": []any{"vip"}}) {
		t.Errorf("customer default = %#v", got)
	}

	crm := f.Connections["crm"].Config
	if crm.Connector != "http" || crm.BaseURL != "http://127.0.0.1:9000" || crm.Auth.Kind != "bearer" ||
		crm.Auth.Token != "env:CRM_TOKEN" || crm.Headers["X-Tenant"] != "acme" || crm.Timeout != 10*time.Second ||
		crm.RateLimit != 10 || crm.MaxConcurrency != 4 {
		t.Errorf("crm = %+v", crm)
	}
	if f.Connections["crm"].Pos != (Pos{14, 3}) {
		t.Errorf("crm pos = %v", f.Connections["crm"].Pos)
	}
	if r := f.Connections["erp"].Config.RateLimit; r != 2 {
		t.Errorf("erp rate = %v, want 2/s", r)
	}
	if r := f.Connections["pay"].Config.RateLimit; r != 1 {
		t.Errorf("pay rate = %v, want 1/s", r)
	}
	if a := f.Connections["pay"].Config.Auth; a.In != "query" || a.Name != "key" || a.Key != "env:PAY_KEY" {
		t.Errorf("pay auth = %+v", a)
	}
	if a := f.Connections["ship"].Config.Auth; a.TokenURL != "https://auth.example.com/token" || !reflect.DeepEqual(a.Scopes, []string{"shipments.write"}) {
		t.Errorf("ship auth = %+v", a)
	}
	if a := f.Connections["erp"].Config.Auth; a.Username != "relay" || a.Password != "file:/run/secrets/erp" {
		t.Errorf("erp auth = %+v", a)
	}

	var ids []string
	for _, s := range f.Steps {
		ids = append(ids, s.ID+":"+string(s.Kind))
	}
	wantSteps := []string{"upsert:call", "totals:set", "big:if", "route:switch", "fan:parallel", "lines:foreach", "pause:sleep", "paid:wait", "child:flow", "ping:call", "cancel:call"}
	if !reflect.DeepEqual(ids, wantSteps) {
		t.Fatalf("steps = %v, want %v", ids, wantSteps)
	}

	env := &Env{Input: map[string]any{"order_id": "42", "amount": 60, "items": []any{"a", "b"}, "customer": map[string]any{"name": "Ada"}, "express": true}}

	upsert := f.Steps[0]
	if upsert.Pos != (Pos{43, 5}) || upsert.Connection != "crm" || upsert.Action != "request" || upsert.Connector != "http" ||
		upsert.Local == nil || *upsert.Local || upsert.Timeout != 30*time.Second || upsert.OnError.Action != OnErrorContinue {
		t.Errorf("upsert = %+v", upsert)
	}
	wantRetry := &RetryPolicy{MaxAttempts: 5, InitialInterval: time.Second, MaxInterval: time.Minute, BackoffCoefficient: 2, NonRetryable: []string{"http.422"}}
	if !reflect.DeepEqual(upsert.Retry, wantRetry) {
		t.Errorf("retry = %+v", upsert.Retry)
	}
	with, err := upsert.With.Eval(env)
	if err != nil {
		t.Fatal(err)
	}
	wantWith := map[string]any{"url": "/contacts", "method": "POST", "body": map[string]any{"email": "Ada", "order": "order 42"}}
	if !reflect.DeepEqual(with, wantWith) {
		t.Errorf("with = %#v", with)
	}
	if upsert.With.Map[0].Key != "url" || upsert.With.Map[2].Value.Pos != (Pos{49, 13}) {
		t.Errorf("with order/pos: %+v", upsert.With.Map)
	}
	if c := upsert.Compensate; len(c) != 1 || c[0].ID != "undo_upsert" || !reflect.DeepEqual(c[0].With.Exprs()[0].StepRefs(), []string{"upsert"}) {
		t.Errorf("compensate = %+v", c)
	}

	totals := f.Steps[1]
	if len(totals.Set) != 3 || totals.Set[0].Name != "total" || totals.Set[1].Name != "currency" || totals.Set[2].Name != "lines" {
		t.Fatalf("set = %+v", totals.Set)
	}
	for i, want := range []any{120, "EUR", 2} {
		got, err := totals.Set[i].Value.Eval(env)
		if err != nil || got != want {
			t.Errorf("set %s = %v (%T), %v; want %v", totals.Set[i].Name, got, got, err, want)
		}
	}

	big := f.Steps[2]
	if ok, err := big.Cond.Bool(env); err != nil || ok {
		t.Errorf("big.Cond(60) = %v, %v", ok, err)
	}
	env.Input["amount"] = 150
	if ok, err := big.Cond.Bool(env); err != nil || !ok {
		t.Errorf("big.Cond(150) = %v, %v", ok, err)
	}
	if len(big.Then) != 1 || big.Then[0].ID != "flag" || len(big.Else) != 1 || big.Else[0].ID != "small" {
		t.Errorf("then/else = %v / %v", big.Then, big.Else)
	}

	route := f.Steps[3]
	if len(route.Cases) != 2 || len(route.Default) != 1 || route.Cases[1].When.Source != "input.express" {
		t.Errorf("switch = %+v", route)
	}
	if ok, err := route.Cases[0].When.Bool(env); err != nil || !ok {
		t.Errorf("case 0 = %v, %v", ok, err)
	}

	fan := f.Steps[4]
	if len(fan.Branches) != 2 || fan.Branches[0].Name != "crm" || fan.Branches[1].Name != "" || len(fan.Branches[1].Steps) != 2 {
		t.Errorf("branches = %+v", fan.Branches)
	}
	if r := fan.Branches[0].Steps[0].Retry; !reflect.DeepEqual(r, wantRetry) {
		t.Errorf("aliased retry = %+v", r)
	}

	lines := f.Steps[5]
	if lines.Items.Source != "input.items" || lines.Concurrency != 5 || len(lines.Body) != 2 {
		t.Errorf("foreach = %+v", lines)
	}
	lineWith, err := lines.Body[0].With.Eval(&Env{Item: map[string]any{"sku": "x"}, Index: 3})
	if err != nil || !reflect.DeepEqual(lineWith, map[string]any{"url": "/lines/3", "body": map[string]any{"sku": "x"}}) {
		t.Errorf("line with = %#v, %v", lineWith, err)
	}

	if d := f.Steps[6].Duration; d != 90*time.Minute {
		t.Errorf("sleep = %v", d)
	}
	w := f.Steps[7].Wait
	if w.Event != "payment.succeeded" || w.Correlation.Source != "input.order_id" || w.Timeout != time.Hour || w.OnTimeout != (OnError{Action: OnErrorGoto, Goto: "cancel"}) {
		t.Errorf("wait = %+v", w)
	}
	child := f.Steps[8]
	if child.Flow != "other-flow" || child.OnError.Goto != "cancel" || child.Retry.MaxAttempts != 2 {
		t.Errorf("child = %+v", child)
	}
	if ping := f.Steps[9]; ping.Local == nil || !*ping.Local || ping.With != nil {
		t.Errorf("ping = %+v", ping)
	}
	cancel := f.Steps[10]
	if cancel.With.Expr == nil || cancel.OnError.Action != OnErrorFail {
		t.Fatalf("cancel = %+v", cancel)
	}
	got, err := cancel.With.Eval(&Env{Steps: map[string]StepView{"paid": {Output: "ok"}}})
	if err != nil || !reflect.DeepEqual(got, map[string]any{"url": "/cancel", "body": "ok"}) {
		t.Errorf("cancel with = %#v, %v", got, err)
	}

	if s := f.Step("line_done"); s == nil || s.Kind != KindSet {
		t.Errorf("Step(line_done) = %v", s)
	}
	if s := f.Step("undo_upsert"); s == nil {
		t.Error("Step does not find compensation steps")
	}
	if o := f.Output; o == nil || !o.IsMap || len(o.Map) != 2 || o.Map[0].Key != "order" || o.Map[1].Key != "child" {
		t.Errorf("output = %+v, want a mapping of order and child", o)
	}
}

func TestForeachConcurrencyDefault(t *testing.T) {
	f := parseFile(t, "testdata/valid/minimal.yaml")
	if f.Steps[0].Kind != KindSleep || f.Steps[0].Duration != 5*time.Second {
		t.Errorf("minimal = %+v", f.Steps[0])
	}
	src := "id: x\nversion: 1\nsteps:\n  - id: each\n    foreach: '[1, 2]'\n    steps:\n      - {id: a, set: {v: '${{ item }}'}}\n"
	g, err := Parse("x.yaml", []byte(src), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c := g.Steps[0].Concurrency; c != 1 {
		t.Errorf("default concurrency = %d, want 1", c)
	}
}
