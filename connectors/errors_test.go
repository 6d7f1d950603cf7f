package connectors

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestClip(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{name: "short kept", in: "Property values were not valid", want: "Property values were not valid"},
		{name: "empty", in: "", want: ""},
		{name: "exactly the limit", in: strings.Repeat("a", 512), want: strings.Repeat("a", 512)},
		{name: "one byte over", in: strings.Repeat("a", 513), want: strings.Repeat("a", 512) + "…"},
		// é is two bytes: the 512th byte would split the 256th é.
		{name: "cut on a rune boundary", in: "x" + strings.Repeat("é", 300), want: "x" + strings.Repeat("é", 255) + "…"},
		{name: "three-byte runes", in: strings.Repeat("€", 200), want: strings.Repeat("€", 170) + "…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Clip(tt.in)
			if got != tt.want {
				t.Errorf("Clip = %q (%d bytes), want %q (%d bytes)", got, len(got), tt.want, len(tt.want))
			}
			if !utf8.ValidString(got) {
				t.Errorf("Clip = %q is not valid UTF-8", got)
			}
		})
	}
}
