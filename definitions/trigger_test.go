package definitions

import (
	"strings"
	"testing"
)

// TestCronShorthands: each shorthand is accepted and reads as the five
// fields Temporal gives it; an unknown one is refused with the list.
func TestCronShorthands(t *testing.T) {
	tests := []struct {
		cron string
		want string // the five fields, or the checkCron message
	}{
		{"@yearly", "0 0 1 1 *"},
		{"@annually", "0 0 1 1 *"},
		{"@monthly", "0 0 1 * *"},
		{"@weekly", "0 0 * * 0"},
		{"@daily", "0 0 * * *"},
		{" @midnight ", "0 0 * * *"},
		{"@hourly", "0 * * * *"},
		{"0 6 * * mon-fri", "0 6 * * mon-fri"},
		{"@fortnightly", "unknown shorthand; shorthands: @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly"},
	}
	for _, tt := range tests {
		got := checkCron(tt.cron)
		if got == "" {
			got = strings.Join(cronFields(tt.cron), " ")
		}
		if got != tt.want {
			t.Errorf("cron %q: got %q, want %q", tt.cron, got, tt.want)
		}
	}
}
