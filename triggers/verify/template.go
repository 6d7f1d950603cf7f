package verify

import (
	"fmt"
	"net/http"
	"strings"
)

type segKind int

const (
	segLiteral segKind = iota
	segBody
	segTimestamp
	segID
	segHeader // text is the canonical header name
)

type segment struct {
	kind segKind
	text string
}

// parseTemplate splits a signed-content template into literals and the
// placeholders {body}, {timestamp}, {id} and {header:Name}. {body} is
// required: a template that does not sign the body authenticates nothing.
func parseTemplate(t string) ([]segment, error) {
	var segs []segment
	hasBody := false
	rest := t
	for rest != "" {
		open := strings.IndexAny(rest, "{}")
		if open < 0 {
			segs = append(segs, segment{kind: segLiteral, text: rest})
			break
		}
		if rest[open] == '}' {
			return nil, fmt.Errorf("template %q has a \"}\" without a matching \"{\"", t)
		}
		if open > 0 {
			segs = append(segs, segment{kind: segLiteral, text: rest[:open]})
		}
		end := strings.IndexAny(rest[open+1:], "{}")
		if end < 0 || rest[open+1+end] != '}' {
			return nil, fmt.Errorf("template %q has a \"{\" without a matching \"}\"", t)
		}
		name := rest[open+1 : open+1+end]
		rest = rest[open+1+end+1:]
		switch {
		case name == "body":
			hasBody = true
			segs = append(segs, segment{kind: segBody})
		case name == "timestamp":
			segs = append(segs, segment{kind: segTimestamp})
		case name == "id":
			segs = append(segs, segment{kind: segID})
		case strings.HasPrefix(name, "header:"):
			h := strings.TrimPrefix(name, "header:")
			if err := checkHeaderName("{header:Name} in template", h); err != nil {
				return nil, err
			}
			segs = append(segs, segment{kind: segHeader, text: http.CanonicalHeaderKey(h)})
		default:
			return nil, fmt.Errorf("template %q has unknown placeholder {%s}; want {body}, {timestamp}, {id} or {header:Name}", t, name)
		}
	}
	if !hasBody {
		return nil, fmt.Errorf("template %q does not contain {body}", t)
	}
	return segs, nil
}

func mustTemplate(t string) []segment {
	segs, err := parseTemplate(t)
	if err != nil {
		panic(err)
	}
	return segs
}
