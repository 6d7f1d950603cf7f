package apiserver

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// TestListCursor: a cursor continues the query of the page it came from.
// Its time window does not move (since=2h means two hours before the first
// page, on every page), a cursor sent with another filter or not made by
// this API is refused with 400 naming cursor, and Temporal never sees a
// token it did not make (it answers a malformed one with an internal
// error, 500).
func TestListCursor(t *testing.T) {
	tests := []struct {
		name  string
		first string // the query of the first page
		// next is the query of the second page; CURSOR stands for the
		// first page's next_cursor.
		next       string
		wantStatus int
		// sameWindow checks that both pages asked for the same times.
		sameWindow bool
	}{
		{name: "relative since", first: "flow=order-to-invoice&since=2h", next: "flow=order-to-invoice&since=2h&cursor=CURSOR", wantStatus: 200, sameWindow: true},
		{name: "relative until", first: "until=30m&limit=10", next: "until=30m&limit=20&cursor=CURSOR", wantStatus: 200, sameWindow: true},
		{name: "absolute times", first: "since=2026-01-01T00:00:00Z&status=failed", next: "status=failed&since=2026-01-01T00:00:00Z&cursor=CURSOR", wantStatus: 200, sameWindow: true},
		{name: "another flow", first: "flow=order-to-invoice", next: "flow=hello&cursor=CURSOR", wantStatus: 400},
		{name: "a filter dropped", first: "status=failed", next: "cursor=CURSOR", wantStatus: 400},
		{name: "a filter added", first: "", next: "failed_step=invoice&cursor=CURSOR", wantStatus: 400},
		{name: "another since", first: "since=2h", next: "since=3h&cursor=CURSOR", wantStatus: 400},
		{name: "not a cursor of this API", next: "cursor=" + base64.RawURLEncoding.EncodeToString([]byte("x")), wantStatus: 400},
		{name: "a Temporal token", next: "cursor=" + base64.RawURLEncoding.EncodeToString([]byte(`{"CloseTime":"2026-01-01T00:00:00Z","RunID":"r"}`)), wantStatus: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fr := newFakeRuns()
			h := testServer(t, fr).Handler()
			next := tt.next
			if strings.Contains(next, "CURSOR") {
				rec := do(t, h, request{method: "GET", path: "/v1/runs?" + tt.first})
				var page RunList
				if err := json.Unmarshal(rec.Body.Bytes(), &page); rec.Code != 200 || err != nil || page.NextCursor == "" {
					t.Fatalf("first page: %d %s", rec.Code, rec.Body)
				}
				u, _ := url.ParseQuery(next)
				if u.Get("cursor") == "CURSOR" {
					u.Set("cursor", page.NextCursor)
				}
				next = u.Encode()
			}
			first := fr.filter
			calls := len(fr.calls)
			rec := do(t, h, request{method: "GET", path: "/v1/runs?" + next})
			if rec.Code != tt.wantStatus {
				t.Fatalf("second page: status %d, want %d: %s", rec.Code, tt.wantStatus, rec.Body)
			}
			if tt.wantStatus != http.StatusOK {
				if e := errorBody(t, rec); e.Field != "cursor" {
					t.Errorf("error %+v, want the cursor blamed", e)
				}
				if slices.Contains(fr.calls[calls:], "List") {
					t.Errorf("the refused cursor was sent to Temporal: %q", fr.filter.Cursor)
				}
				return
			}
			second := fr.filter
			if string(second.Cursor) != "page-2\x00\xff" {
				t.Errorf("Temporal got the token %q, want the one it made", second.Cursor)
			}
			if strings.Contains(rec.Body.String(), "next_cursor") {
				t.Errorf("the last page has a next_cursor: %s", rec.Body)
			}
			if tt.sameWindow && (!second.Since.Equal(first.Since) || !second.Until.Equal(first.Until)) {
				t.Errorf("the window moved: since %v → %v, until %v → %v", first.Since, second.Since, first.Until, second.Until)
			}
		})
	}
}
