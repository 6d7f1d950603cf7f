package triggers

import (
	"context"
	"time"
)

// MayHaveLegacyAt is mayHaveLegacy for the external tests, which set the
// clock.
func (r *Receiver) MayHaveLegacyAt(ctx context.Context, flow string, now time.Time) bool {
	return r.mayHaveLegacy(ctx, flow, now)
}

// LegacyRecheck and LegacyRetry are how long a count of exponent-named
// runs, and a failed one, is kept.
const LegacyRecheck, LegacyRetry = legacyRecheck, legacyRetry
