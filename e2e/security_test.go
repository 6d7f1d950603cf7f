package e2e_test

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/relay-dev/relay/codec"
	"github.com/relay-dev/relay/connectors/builtin"
	"github.com/relay-dev/relay/definitions"
	"github.com/relay-dev/relay/devserver"
	"github.com/relay-dev/relay/runs"
	"github.com/relay-dev/relay/worker"
)

// TestEncryptedPayloads runs a flow with payload encryption on: nothing in
// the history is readable without the key, and relay still reads its runs.
func TestEncryptedPayloads(t *testing.T) {
	t.Setenv("E2E_CODEC_KEY", "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=") // 32 bytes, base64
	keys, err := codec.ParseKeys("k1=env:E2E_CODEC_KEY")
	if err != nil {
		t.Fatal(err)
	}
	c, err := codec.NewCodec(keys)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv, err := devserver.Start(ctx, devserver.Options{Ephemeral: true, UIPort: devserver.UIDisabled, SearchAttributes: runs.SearchAttributeTypes()})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	opts := client.Options{HostPort: srv.FrontendAddress(), Namespace: srv.Namespace(), Logger: quietLogger{}}
	c.Apply(&opts)
	tc, err := client.Dial(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	reg := builtin.Registry()
	w, err := worker.New(tc, worker.Options{Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	flow, err := definitions.Parse("secret.yaml", []byte(`
id: secret-order
version: 1
inputs:
  card_holder: {type: string, required: true}
steps:
  - {id: note, set: {who: "${{ input.card_holder }}"}}
`), reg)
	if err != nil {
		t.Fatal(err)
	}
	rc := &runs.Client{Temporal: tc, Namespace: srv.Namespace(), TaskQueue: worker.DefaultTaskQueue, Flows: map[string]*definitions.Flow{flow.ID: flow}, DataConverter: c.DataConverter()}
	run, err := rc.Start(ctx, flow, map[string]any{"card_holder": "Grace Hopper"}, runs.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := rc.Result(ctx, run.WorkflowID)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if res.Vars["who"] != "Grace Hopper" {
		t.Errorf("vars = %v", res.Vars)
	}
	e := &env{client: tc}
	h := historyJSON(t, e, run.WorkflowID)
	if strings.Contains(h, "Grace Hopper") || strings.Contains(h, "R3JhY2UgSG9wcGVy") {
		t.Error("the history shows the input in plain text")
	}
	if !strings.Contains(h, base64.StdEncoding.EncodeToString([]byte("binary/encrypted"))) {
		t.Errorf("the history holds no encrypted payload: %.300s", h)
	}
	d, err := rc.Show(ctx, run.WorkflowID)
	if err != nil {
		t.Fatal(err)
	}
	if d.Input["card_holder"] != "Grace Hopper" || d.DefinitionHash != flow.Source.Hash {
		t.Errorf("show with the codec: input %v, hash %q", d.Input, d.DefinitionHash)
	}
}
