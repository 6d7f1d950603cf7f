package sandbox

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
)

// Slack incoming webhooks, under /slack/services/T…/B…/<secret>: a post
// with text answers `ok` as text/plain; a body that is not JSON or has no
// text answers 400 `invalid_payload`, a path that is not T/B/secret 404
// `no_service`, as Slack does. Like Slack, it ignores Idempotency-Key: a
// message sent again is posted again (the key is kept on each message, to
// see which were). Messages are kept as "slack.messages".
//
// Counters: slack.messages.posted; slack.messages.answer_failed, the
// messages posted and then answered 500 by an injected fault, which a
// sender may post again.

func (s *Server) slackRoutes() {
	s.mux.HandleFunc("POST /slack/services/{path...}", s.slackPost)
}

func slackAnswer(w http.ResponseWriter, status int, text string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, text)
}

func (s *Server) slackPost(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(r.PathValue("path"), "/")
	if len(parts) != 3 || !strings.HasPrefix(parts[0], "T") || !strings.HasPrefix(parts[1], "B") || parts[2] == "" {
		slackAnswer(w, http.StatusNotFound, "no_service")
		return
	}
	body, err := ReadBody(r)
	if err != nil {
		slackAnswer(w, http.StatusBadRequest, "invalid_payload")
		return
	}
	var msg struct {
		Text    string `json:"text"`
		Blocks  []any  `json:"blocks"`
		Channel string `json:"channel"`
	}
	if json.Unmarshal(body, &msg) != nil || strings.TrimSpace(msg.Text) == "" {
		slackAnswer(w, http.StatusBadRequest, "invalid_payload")
		return
	}
	id := s.NewID("slackmsg")
	s.Put("slack.messages", id, map[string]any{
		"id": id, "team": parts[0], "webhook": parts[1], "channel": msg.Channel,
		"text": msg.Text, "blocks": msg.Blocks, "idempotency_key": r.Header.Get("Idempotency-Key"),
	})
	s.Count("slack.messages.posted")
	if s.faultAfterEffect(r) {
		s.Count("slack.messages.answer_failed")
		slackAnswer(w, http.StatusInternalServerError, "rollup_error")
		return
	}
	slackAnswer(w, http.StatusOK, "ok")
}
