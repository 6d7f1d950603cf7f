// Package slack is the connector for Slack incoming webhooks: post a
// message to the channel a webhook is bound to.
//
// The connection's base_url is the webhook URL
// (https://hooks.slack.com/services/T…/B…/…), or its common prefix with the
// rest in the action's path parameter. A webhook URL is a credential (its
// last segment is a bearer secret): declare it as a reference, such as
// `base_url: env:SLACK_WEBHOOK_URL`, so that it stays out of the flow file
// and of the run's history, which holds the definition; it is kept out of
// error messages either way.
//
// Slack answers `ok`, or a failure status with a short code as text
// (`invalid_payload`, `no_service`, `channel_not_found`); failures with such
// a code have the type `slack.<code>`, and 429 and 5xx stay retryable.
package slack

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"github.com/relay-dev/relay/connectors"
)

// Connector returns the `slack` connector.
func Connector() *connectors.Connector {
	return &connectors.Connector{
		Name:    "slack",
		Summary: "Post messages to Slack through an incoming webhook.",
		Actions: []*connectors.Action{postMessageAction()},
	}
}

func postMessageAction() *connectors.Action {
	return &connectors.Action{
		Name:    "post_message",
		Summary: "Post a message to the webhook's channel; the output is {ok: true}.",
		Short:   true,
		Params: []connectors.Param{
			{Name: "text", Type: "string", Required: true, Summary: "Message text (mrkdwn); the notification fallback when blocks are given."},
			{Name: "blocks", Type: "array", Summary: "Block Kit blocks."},
			{Name: "channel", Type: "string", Summary: "Channel override, for legacy webhooks that allow it."},
			{Name: "path", Type: "string", Default: "", Summary: "Appended to the connection's base_url, e.g. T000/B000/XXXX when base_url is https://hooks.slack.com/services."},
		},
		Do: postMessage,
	}
}

func postMessage(ctx context.Context, call *connectors.Call) (any, error) {
	p, err := connectors.ParamDefaults(postMessageAction(), call.Params)
	if err != nil {
		return nil, err
	}
	if call.Client == nil {
		return nil, connectors.Permanent("invalid_connection", "slack post_message on connection %q: no client", call.Connection)
	}
	r := connectors.ReadParams("slack", "post_message", p)
	text, err := r.RequiredString("text")
	if err != nil {
		return nil, err
	}
	msg := map[string]any{"text": text}
	blocks, err := r.List("blocks")
	if err != nil {
		return nil, err
	}
	if blocks != nil {
		msg["blocks"] = blocks
	}
	channel, err := r.String("channel")
	if err != nil {
		return nil, err
	}
	if channel != "" {
		msg["channel"] = channel
	}
	path, err := r.String("path")
	if err != nil {
		return nil, err
	}
	if strings.HasPrefix(path, "http://") || strings.HasPrefix(path, "https://") {
		return nil, r.Invalid("path must be relative to the connection's base_url")
	}
	body, err := json.Marshal(msg)
	if err != nil {
		return nil, r.Invalid("encoding the message: %v", err)
	}
	// Slack ignores the key and has no way to look a message up: a
	// message whose answer was lost (a dropped connection, a timeout, a
	// 5xx after posting) is posted again when it is resent, in this call
	// or by the step's next attempt (at least once). The key is sent for
	// the receivers that honour it.
	_, err = call.Client.Do(ctx, &connectors.Request{
		Method: http.MethodPost, Path: path, Body: body, ContentType: "application/json", IdempotencyKey: call.IdempotencyKey,
	})
	if err != nil {
		return nil, apiError(call, path, err)
	}
	return map[string]any{"ok": true}, nil
}

// codeRE is Slack's short error code.
var codeRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)

// apiError types a failure by Slack's error code and hides the webhook's
// secret path in its message.
func apiError(call *connectors.Call, path string, err error) error {
	ce, ok := connectors.AsError(err)
	if !ok {
		return err
	}
	out := *ce
	out.Message = hideWebhook(out.Message, call.Config.BaseURL, path)
	if code := strings.TrimSpace(string(ce.Body)); ce.Status != 0 && codeRE.MatchString(code) {
		out.Type = "slack." + code
		out.Message = fmt.Sprintf("slack post_message: HTTP %d: %s", ce.Status, code)
	}
	return &out
}

// webhookRE matches the secret part of a Slack webhook path.
var webhookRE = regexp.MustCompile(`(/services/[^/\s]+/[^/\s]+/)[^/\s?"]+`)

// hideWebhook removes the secret parts of the webhook URL from msg.
func hideWebhook(msg, baseURL, path string) string {
	if p := strings.Trim(path, "/"); p != "" {
		msg = strings.ReplaceAll(msg, p, "…")
	}
	if i := strings.Index(baseURL, "/services/"); i >= 0 && len(baseURL) > i+len("/services/") {
		msg = strings.ReplaceAll(msg, baseURL[i+len("/services/"):], "…")
	}
	return webhookRE.ReplaceAllString(msg, "${1}…")
}
