package cli

import (
	"strings"
	"testing"
	"time"
)

// TestListCursor: the cursor relay runs list prints carries Temporal's page
// token and the window's start the first page resolved --since to, as
// plain text a shell passes unchanged; anything else is refused.
func TestListCursor(t *testing.T) {
	since := time.Date(2026, 11, 23, 7, 0, 0, 0, time.UTC)
	for _, c := range []listCursor{
		{Token: []byte(`{"CloseTime":"2026-11-23T08:00:00Z","RunID":"r-1"}`), Since: since},
		{Token: []byte{0, 1, 0xff, '\n', '"'}},
	} {
		text := encodeListCursor(c)
		if strings.ContainsAny(text, " \"'\n\\$") {
			t.Errorf("cursor %q needs quoting in a shell", text)
		}
		got, err := decodeListCursor(text)
		if err != nil || string(got.Token) != string(c.Token) || !got.Since.Equal(c.Since) {
			t.Errorf("decode(encode(%+v)) = %+v, %v", c, got, err)
		}
	}
	for _, bad := range []string{"", "not base64!", "e30", `{"t":"AQ=="}`} {
		if _, err := decodeListCursor(bad); err == nil || !strings.Contains(err.Error(), "--cursor") {
			t.Errorf("decodeListCursor(%q) = %v, want an error naming --cursor", bad, err)
		}
	}
}
