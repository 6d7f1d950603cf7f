package secrets

import (
	"encoding/base64"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		ref, wantErr string
	}{
		{"env:API_KEY", ""},
		{"file:/run/secrets/key", ""},
		{"file:relative/key", ""},
		{"vault:secret/data/x", `unknown secret reference kind "vault" (use env:NAME or file:PATH)`},
		{"API_KEY", `invalid secret reference "API_KEY": want env:NAME or file:PATH`},
		{"env:", `invalid secret reference "env:": env: needs a variable name`},
		{"env:A=B", `invalid secret reference "env:A=B": env: needs a variable name`},
		{"file:", `invalid secret reference "file:": file: needs a path`},
		{"", `invalid secret reference "": want env:NAME or file:PATH`},
	}
	for _, tt := range tests {
		t.Run(tt.ref, func(t *testing.T) {
			err := Validate(tt.ref)
			if got := errString(err); got != tt.wantErr {
				t.Fatalf("Validate(%q) = %q, want %q", tt.ref, got, tt.wantErr)
			}
		})
	}
}

func TestResolve(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	withNewline := write("nl", "s3cr3t-file\n")
	withCRLF := write("crlf", "s3cr3t-crlf\r\n")
	plain := write("plain", "s3cr3t-plain")
	empty := write("empty", "\n")
	missing := filepath.Join(dir, "missing")
	huge := write("huge", strings.Repeat("x", MaxFileBytes+1))
	atLimit := write("limit", strings.Repeat("y", MaxFileBytes-1)+"\n")

	t.Setenv("RELAY_TEST_SECRET", "s3cr3t-env")
	t.Setenv("RELAY_TEST_EMPTY", "")

	tests := []struct {
		name, ref, want, wantErr string
	}{
		{"env", "env:RELAY_TEST_SECRET", "s3cr3t-env", ""},
		{"env unset", "env:RELAY_TEST_UNSET_XYZ", "", `resolving secret "env:RELAY_TEST_UNSET_XYZ": environment variable RELAY_TEST_UNSET_XYZ is not set`},
		{"env empty", "env:RELAY_TEST_EMPTY", "", `resolving secret "env:RELAY_TEST_EMPTY": environment variable RELAY_TEST_EMPTY is empty`},
		{"file newline", "file:" + withNewline, "s3cr3t-file", ""},
		{"file crlf", "file:" + withCRLF, "s3cr3t-crlf", ""},
		{"file plain", "file:" + plain, "s3cr3t-plain", ""},
		{"file empty", "file:" + empty, "", `resolving secret "file:` + empty + `": file ` + empty + ` is empty`},
		{"file missing", "file:" + missing, "", `resolving secret "file:` + missing + `": open ` + missing + `: no such file or directory`},
		{"file at the limit", "file:" + atLimit, strings.Repeat("y", MaxFileBytes-1), ""},
		{"file too large", "file:" + huge, "", `resolving secret "file:` + huge + `": file ` + huge + ` is larger than 1048576 bytes`},
		{"unknown kind", "vault:x", "", `unknown secret reference kind "vault" (use env:NAME or file:PATH)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Resolve(tt.ref)
			if errString(err) != tt.wantErr {
				t.Fatalf("Resolve(%q) error = %q, want %q", tt.ref, errString(err), tt.wantErr)
			}
			if got != tt.want {
				t.Fatalf("Resolve(%q) = %q, want %q", tt.ref, got, tt.want)
			}
		})
	}
}

func TestRedactor(t *testing.T) {
	var r Redactor
	if got := r.Redact("nothing registered"); got != "nothing registered" {
		t.Fatalf("zero Redactor changed text: %q", got)
	}
	secret := "p@ss word/+=&"
	r.Add(secret, "", "tok")
	r.Add("tok-longer") // contains "tok": must be replaced whole

	tests := []struct {
		name, in, want string
	}{
		{"raw", "key=" + secret + ".", "key=[REDACTED]."},
		{"query escaped", "https://x/?k=" + url.QueryEscape(secret), "https://x/?k=[REDACTED]"},
		{"path escaped", "https://x/" + url.PathEscape(secret), "https://x/[REDACTED]"},
		{"query escaped in lower case", "https://x/?k=p%40ss+word%2f%2b%3d%26", "https://x/?k=[REDACTED]"},
		{"path escaped in lower case", "https://x/p@ss%20word%2f+=&", "https://x/[REDACTED]"},
		{"base64", "Basic " + base64.StdEncoding.EncodeToString([]byte(secret)), "Basic [REDACTED]"},
		{"json escaped", `{"k":"` + strings.ReplaceAll(secret, "&", `\u0026`) + `"}`, `{"k":"[REDACTED]"}`},
		{"longest first", "a tok-longer b tok c", "a [REDACTED] b [REDACTED] c"},
		{"untouched", "no secrets here", "no secrets here"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := r.Redact(tt.in); got != tt.want {
				t.Fatalf("Redact(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}

	var nilRedactor *Redactor
	if got := nilRedactor.Redact("x"); got != "x" {
		t.Fatalf("nil Redactor changed text: %q", got)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
