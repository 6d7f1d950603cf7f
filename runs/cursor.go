package runs

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// ErrBadCursor is returned by Filter.Continue for a cursor that no listing
// made.
var ErrBadCursor = errors.New("not a cursor of a previous page")

// ErrCursorFilters is returned by Filter.Continue for a cursor made for
// other filters than the filter's.
var ErrCursorFilters = errors.New("the cursor was made for other filters: send it with the filters of the first page")

// listCursor is what a cursor carries: Temporal's page token, with a digest
// of the filters of the first page, so that a cursor is refused with other
// ones (Temporal's token says only where the page ended, and would continue
// another query there), and the times the first page's window resolved to,
// so that a relative window ("since 2h") does not move from page to page.
// It is refused when it does not decode, before Temporal sees it: its SQL
// store answers a malformed token with an internal error.
type listCursor struct {
	Filters string    `json:"f"`
	Since   time.Time `json:"s,omitzero"`
	Until   time.Time `json:"u,omitzero"`
	Token   []byte    `json:"t"`
}

// NextCursor is the cursor of the page after the one f listed, given the
// next page token List returned (none on the last page: ""). window is the
// window as the caller was asked for it (a relative "2h" as it is), and is
// part of the filters the cursor must come back with. The cursor is text a
// URL or a shell passes as it is.
func (f Filter) NextCursor(next []byte, window string) string {
	if len(next) == 0 {
		return ""
	}
	b, _ := json.Marshal(listCursor{Filters: f.digest(window), Since: f.Since, Until: f.Until, Token: next}) // bytes, times and a string always marshal
	return base64.RawURLEncoding.EncodeToString(b)
}

// Continue makes f list the page cursor continues, in the window of the
// first page. It returns ErrBadCursor for a cursor NextCursor did not make
// and ErrCursorFilters for one made for other filters or another window.
func (f *Filter) Continue(cursor, window string) error {
	var c listCursor
	b, err := base64.RawURLEncoding.DecodeString(cursor)
	if err == nil {
		err = json.Unmarshal(b, &c)
	}
	if err != nil || c.Filters == "" || len(c.Token) == 0 {
		return ErrBadCursor
	}
	if c.Filters != f.digest(window) {
		return ErrCursorFilters
	}
	f.Cursor, f.Since, f.Until = c.Token, c.Since, c.Until
	return nil
}

// digest is a digest of what f selects, with the window as asked for.
func (f Filter) digest(window string) string {
	h := sha256.New()
	for _, v := range []string{f.Flow, f.Status, f.FailedStep, f.ErrorType, f.BusinessKey, f.ReplayOf, window} {
		fmt.Fprintf(h, "%q\n", v)
	}
	return hex.EncodeToString(h.Sum(nil)[:12])
}
