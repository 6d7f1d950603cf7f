package runs

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestCursor: a cursor carries Temporal's page token and the window the
// first page resolved to, as text a URL or a shell passes unchanged, and
// continues only the filters and window it was made for; anything else is
// refused before Temporal sees it.
func TestCursor(t *testing.T) {
	since := time.Date(2026, 11, 23, 7, 0, 0, 0, time.UTC)
	first := Filter{Flow: "order-to-invoice", Status: "failed", Since: since}
	tokens := [][]byte{[]byte(`{"CloseTime":"2026-11-23T08:00:00Z","RunID":"r-1"}`), {0, 1, 0xff, '\n', '"'}}
	for _, token := range tokens {
		cursor := first.NextCursor(token, "2h")
		if strings.ContainsAny(cursor, " \"'\n\\$&?=+/") {
			t.Errorf("cursor %q needs quoting in a shell or a URL", cursor)
		}
		// The next page is asked for later: "2h" resolves to a later time.
		next := Filter{Flow: "order-to-invoice", Status: "failed", Since: since.Add(time.Minute), PageSize: 10}
		if err := next.Continue(cursor, "2h"); err != nil {
			t.Fatalf("Continue(NextCursor) = %v", err)
		}
		if string(next.Cursor) != string(token) || !next.Since.Equal(since) || next.PageSize != 10 {
			t.Errorf("continued %+v, want token %q since %s and page size 10", next, token, since)
		}
	}
	if got := first.NextCursor(nil, ""); got != "" {
		t.Errorf("NextCursor on the last page = %q, want none", got)
	}

	cursor := first.NextCursor(tokens[0], "2h")
	tests := []struct {
		name   string
		filter Filter
		cursor string
		window string
		want   error
	}{
		{name: "empty", filter: first, cursor: "", window: "2h", want: ErrBadCursor},
		{name: "not base64", filter: first, cursor: "not base64!", window: "2h", want: ErrBadCursor},
		{name: "an empty object", filter: first, cursor: "e30", window: "2h", want: ErrBadCursor},
		{name: "a token without filters", filter: first, cursor: `eyJ0IjoiQVE9PSJ9`, window: "2h", want: ErrBadCursor},
		{name: "another flow", filter: Filter{Flow: "hello", Status: "failed"}, cursor: cursor, window: "2h", want: ErrCursorFilters},
		{name: "a filter dropped", filter: Filter{Flow: "order-to-invoice"}, cursor: cursor, window: "2h", want: ErrCursorFilters},
		{name: "a filter added", filter: Filter{Flow: "order-to-invoice", Status: "failed", ErrorType: "http.503"}, cursor: cursor, window: "2h", want: ErrCursorFilters},
		{name: "another window", filter: first, cursor: cursor, window: "3h", want: ErrCursorFilters},
		{name: "the same filters", filter: Filter{Flow: "order-to-invoice", Status: "failed"}, cursor: cursor, window: "2h"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := tt.filter
			err := f.Continue(tt.cursor, tt.window)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("Continue = %v, want %v", err, tt.want)
			}
			if err != nil && f.Cursor != nil {
				t.Errorf("a refused cursor set the token %q", f.Cursor)
			}
		})
	}
}
