package definitions

import (
	"encoding/json"

	"github.com/relay-dev/relay/connectors"
)

type obj = map[string]any

// Schema returns a JSON Schema (draft 2020-12) of the flow language, for
// editors. It checks the shape of a file; Parse checks the rest (connectors,
// actions, step references, expressions).
func Schema() []byte {
	b, err := json.MarshalIndent(schema(), "", "  ")
	if err != nil {
		panic(err) // the schema is static
	}
	return append(b, '\n')
}

func ref(name string) obj { return obj{"$ref": "#/$defs/" + name} }

func closed(description string, required []string, props obj) obj {
	o := obj{"type": "object", "additionalProperties": false, "properties": props}
	if description != "" {
		o["description"] = description
	}
	if len(required) > 0 {
		o["required"] = required
	}
	return o
}

func described(o obj, description string) obj {
	out := obj{"description": description}
	for k, v := range o {
		out[k] = v
	}
	return out
}

func schema() obj {
	stepProps := obj{
		"id":          described(ref("identifier"), "Unique in the flow; expressions read the step's result as steps.<id>."),
		"description": obj{"type": "string"},
		"call":        obj{"type": "string", "pattern": `^[A-Za-z_][A-Za-z0-9_]*\.\S+$`, "description": "<connection>.<action>: calls an action of a declared connection."},
		"with":        described(ref("value"), "Parameters of a call, or the input of a child flow."),
		"local":       obj{"type": "boolean", "description": "Run the call as a local activity."},
		"set":         obj{"type": "object", "minProperties": 1, "propertyNames": ref("identifier"), "additionalProperties": ref("value"), "description": "Variables to assign, read later as vars.<name>."},
		"if":          described(ref("expression"), "Condition choosing then or else."),
		"then":        ref("steps"),
		"else":        ref("steps"),
		"switch": obj{"type": "array", "minItems": 1, "description": "Cases; the first whose when holds runs, else default.",
			"items": closed("", []string{"when", "steps"}, obj{"when": ref("expression"), "steps": ref("steps")})},
		"default": ref("steps"),
		"parallel": obj{"type": "array", "minItems": 1, "description": "Branches run at the same time.",
			"items": closed("", []string{"steps"}, obj{"name": obj{"type": "string", "minLength": 1}, "steps": ref("steps")})},
		"foreach":     described(ref("expression"), "List to iterate; item and index are bound in steps."),
		"concurrency": obj{"type": "integer", "minimum": 1, "default": 1, "description": "Iterations run at the same time."},
		"steps":       ref("steps"),
		"sleep":       described(ref("duration"), "How long to pause."),
		"wait": closed("Waits for an event delivered to the run.", []string{"event"}, obj{
			"event":       obj{"type": "string", "minLength": 1, "description": "Event name, such as payment.succeeded."},
			"correlation": described(ref("expression"), "Must equal the event's key."),
			"timeout":     ref("duration"),
			"on_timeout":  ref("onError"),
		}),
		"flow":    described(ref("flowID"), "Runs another flow as a child, with `with` as its input."),
		"retry":   ref("retry"),
		"timeout": ref("duration"),
		"on_error": described(ref("onError"),
			"What happens when the step fails after its retries."),
		"compensate": described(ref("steps"), "Steps run if the run fails after this step succeeded."),
	}
	var kinds []any
	for _, k := range stepKinds {
		kinds = append(kinds, obj{"required": []string{string(k)}})
	}
	deps := obj{}
	for name, allowed := range kindOnly {
		var alts []any
		for _, k := range allowed {
			alts = append(alts, obj{"required": []string{string(k)}})
		}
		deps[name] = obj{"anyOf": alts}
	}
	step := closed("One step: exactly one of call, set, if, switch, parallel, foreach, sleep, wait, flow.", []string{"id"}, stepProps)
	step["oneOf"] = kinds
	step["dependentSchemas"] = deps
	step["dependentRequired"] = obj{"if": []string{"then"}, "foreach": []string{"steps"}}

	var authKindsList []any
	for _, name := range sortedNames(authKinds) {
		spec := authKinds[name]
		props := obj{"kind": obj{"const": name}}
		for _, f := range spec.fields {
			props[f] = obj{"type": "string", "minLength": 1}
		}
		for f := range (&connectors.AuthConfig{}).SecretFields() {
			if _, ok := props[f]; ok {
				props[f] = described(ref("secretRef"), "A secret reference: env:NAME or file:PATH.")
			}
		}
		if _, ok := props["scopes"]; ok {
			props["scopes"] = obj{"type": "array", "items": obj{"type": "string", "minLength": 1}}
		}
		if _, ok := props["in"]; ok {
			props["in"] = obj{"enum": []string{"header", "query"}, "default": "header"}
		}
		required := append([]string{"kind"}, spec.required...)
		authKindsList = append(authKindsList, closed("", required, props))
	}

	return obj{
		"$schema":              "https://json-schema.org/draft/2020-12/schema",
		"$id":                  "https://github.com/relay-dev/relay/definitions/flow.schema.json",
		"title":                "relay flow",
		"description":          "A relay flow definition (version 1 of the language).",
		"type":                 "object",
		"required":             []string{"id", "version", "steps"},
		"additionalProperties": false,
		"properties": obj{
			"id":          described(ref("flowID"), "The flow's ID, unique among the loaded flows."),
			"version":     obj{"type": "integer", "minimum": 1},
			"description": obj{"type": "string"},
			"inputs": obj{"type": "object", "propertyNames": ref("identifier"), "description": "Inputs, read as input.<name>.",
				"additionalProperties": closed("", nil, obj{
					"type":        obj{"enum": inputTypes, "default": "any"},
					"required":    obj{"type": "boolean"},
					"default":     obj{},
					"description": obj{"type": "string"},
				})},
			"connections": obj{"type": "object", "propertyNames": ref("identifier"), "description": "Connections to partner APIs, by name.",
				"additionalProperties": closed("", []string{"connector"}, obj{
					"connector":       obj{"type": "string", "minLength": 1, "description": "A registered connector, such as http."},
					"base_url":        obj{"type": "string", "pattern": `^((https?|smtps?)://[^/\s]+|env:[A-Za-z_][A-Za-z0-9_]*|file:.*\S.*)`},
					"auth":            obj{"oneOf": authKindsList},
					"headers":         obj{"type": "object", "additionalProperties": obj{"type": "string"}},
					"timeout":         ref("duration"),
					"rate_limit":      obj{"type": "string", "pattern": `^\s*[0-9]*\.?[0-9]+\s*/\s*[smh]\s*$`, "description": "Requests per second, minute or hour: 10/s, 600/m, 1000/h."},
					"max_concurrency": obj{"type": "integer", "minimum": 1},
				})},
			"trigger": closed("What starts the flow's runs.", nil, obj{
				"webhook":  webhookSchema(true),
				"schedule": scheduleSchema(),
			}),
			"events": obj{"type": "array", "description": "Webhooks delivered to waiting runs as events.",
				"items": closed("", []string{"name", "webhook", "run"}, obj{
					"name":    obj{"type": "string", "minLength": 1, "description": "The event name wait steps wait for."},
					"webhook": webhookSchema(false),
					"run":     described(ref("expression"), "The dedupe key of the run to wake (over body, headers, query)."),
					"key":     described(ref("expression"), "The correlation key; default the run key."),
					"data":    described(ref("value"), "What the wait step outputs; default the body."),
					"start":   described(ref("value"), "The flow's input when the run does not exist yet: signal-with-start."),
				})},
			"steps":  ref("steps"),
			"output": described(ref("value"), "What a completed run returns, and a flow step outputs, evaluated once every step is done; default: every step's output and the variables."),
		},
		"$defs": obj{
			"identifier": obj{"type": "string", "pattern": `^[A-Za-z_][A-Za-z0-9_]*$`},
			"flowID":     obj{"type": "string", "pattern": `^[a-z0-9][a-z0-9._-]*$`},
			"duration":   obj{"type": "string", "pattern": `^\s*([0-9]*\.?[0-9]+(ns|us|µs|μs|ms|s|m|h))+\s*$`, "description": "A Go duration such as 30s, 5m or 1h30m."},
			"expression": obj{"type": []string{"string", "boolean", "number"}, "description": "An expr-lang expression; a ${{ }} wrapper is optional."},
			"value":      obj{"description": "Any value; strings may embed ${{ expr }}."},
			"secretRef":  obj{"type": "string", "pattern": `^(env:[A-Za-z_][A-Za-z0-9_]*|file:.*\S.*)$`},
			"steps":      obj{"type": "array", "minItems": 1, "items": ref("step")},
			"step":       step,
			"onError": obj{"oneOf": []any{
				obj{"enum": []string{"fail", "continue", "halt", "park"}},
				closed("", []string{"goto"}, obj{"goto": ref("identifier")}),
			}},
			"retry": closed("Retry policy of a call or flow step.", nil, obj{
				"max_attempts":        obj{"type": "integer", "minimum": 1},
				"initial_interval":    ref("duration"),
				"max_interval":        ref("duration"),
				"backoff_coefficient": obj{"type": "number", "minimum": 1},
				"jitter":              obj{"type": "number", "minimum": 0, "maximum": 1, "description": "Spread each retry delay by up to this fraction, so many runs do not retry at once."},
				"non_retryable":       obj{"type": "array", "items": obj{"type": "string", "minLength": 1}, "description": "Error types that end retries, such as http.422."},
			}),
		},
	}
}

// webhookSchema describes a webhook; starts says whether it starts runs
// (dedupe and input apply) or routes events.
func webhookSchema(starts bool) obj {
	props := obj{
		"path": obj{"type": "string", "pattern": `^/hooks/[^\s?#]*$`},
		"verify": closed("How the signature is verified.", []string{"scheme", "secrets"}, obj{
			"scheme":           obj{"enum": verifySchemes},
			"secrets":          obj{"type": "array", "minItems": 1, "items": ref("secretRef"), "description": "Several during a rotation."},
			"tolerance":        ref("duration"),
			"header":           obj{"type": "string"},
			"algorithm":        obj{"enum": []string{"sha256", "sha1", "sha512"}},
			"encoding":         obj{"enum": []string{"hex", "base64"}},
			"prefix":           obj{"type": "string"},
			"template":         obj{"type": "string"},
			"timestamp_header": obj{"type": "string"},
		}),
		"filter":   described(ref("expression"), "Deliveries for which it is false are answered 200 and dropped."),
		"max_body": obj{"type": "integer", "minimum": 1, "default": DefaultMaxBody},
	}
	if starts {
		props["dedupe"] = described(ref("expression"), "Names the delivery; default the provider's delivery ID.")
		props["input"] = described(ref("value"), "The flow's input, over body, headers and query; default the body.")
	}
	return closed("", []string{"path", "verify"}, props)
}

// scheduleSchema describes trigger.schedule.
func scheduleSchema() obj {
	sch := closed("Starts runs at set times, through a Temporal Schedule.", nil, obj{
		"cron":             obj{"type": "string", "pattern": `^\s*(@\w+|\S+(\s+\S+){4})\s*$`, "description": "Five fields: minute hour day-of-month month day-of-week (not both days: one of them *), or @hourly, @daily, @weekly, @monthly, @yearly."},
		"interval":         described(ref("duration"), "Start a run this often (whole seconds, at least 1s)."),
		"offset":           described(ref("duration"), "Shift each interval from the Unix epoch by this much."),
		"timezone":         obj{"type": "string", "minLength": 1, "default": DefaultTimezone, "description": "IANA time zone the cron expression is read in."},
		"overlap":          obj{"enum": ScheduleOverlaps, "default": OverlapSkip, "description": "What happens when a run is due while the last one still runs."},
		"catchup_window":   described(ref("duration"), "How late a run missed during an outage may still start; default Temporal's (one year)."),
		"pause_on_failure": obj{"type": "boolean", "default": false},
		"jitter":           described(ref("duration"), "Delay each run by a random time up to this."),
		"input":            obj{"type": "object", "description": "The input of every run; static, no expressions."},
	})
	sch["oneOf"] = []any{obj{"required": []string{"cron"}}, obj{"required": []string{"interval"}}}
	sch["dependentRequired"] = obj{"offset": []string{"interval"}, "timezone": []string{"cron"}}
	return sch
}
