// Package connectors defines what a partner API looks like to relay: a
// Connector with named Actions, the configuration of one connection to it,
// a registry of the built-in connectors, and the error type that tells the
// engine whether a failed call may be retried. It does not import Temporal:
// the activities package is the one bridge between the two.
package connectors

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"
)

// Connector describes one partner API and the actions relay can call on it.
type Connector struct {
	// Name is the connector's stable name, used in definitions
	// (`connector: http`) and in Temporal activity types (`http.request`).
	Name string
	// Summary is one line for `relay connectors` and the JSON Schema.
	Summary string
	// Actions lists what a step may call, in the order they are documented.
	Actions []*Action
	// URLSchemes are the base_url schemes the connector speaks; nil means
	// http and https.
	URLSchemes []string
}

// AcceptsScheme reports whether a base_url with the scheme suits c.
func (c *Connector) AcceptsScheme(scheme string) bool {
	if c.URLSchemes == nil {
		return scheme == "http" || scheme == "https"
	}
	return slices.Contains(c.URLSchemes, scheme)
}

// Action is one operation of a connector.
type Action struct {
	// Name is unique within its connector.
	Name string
	// Summary is one line of documentation.
	Summary string
	// Params describes the `with:` mapping the action accepts.
	Params []Param
	// Short marks calls that finish quickly; steps calling them run as local
	// activities unless the definition says otherwise.
	Short bool
	// Do performs the call. It returns a JSON-compatible value (maps, slices,
	// strings, float64, bool, nil) that becomes the step's output.
	Do func(ctx context.Context, call *Call) (any, error)
}

// Param documents one parameter of an action.
type Param struct {
	Name     string
	Type     string // string, number, integer, boolean, object, array, any
	Required bool
	Default  any
	// Secret marks a parameter whose value is a secret reference resolved at
	// call time; its value never appears in history or errors.
	Secret  bool
	Summary string
}

// ActivityType is the stable Temporal activity type of an action.
func ActivityType(connector, action string) string { return connector + "." + action }

// Action returns the named action, or nil.
func (c *Connector) Action(name string) *Action {
	for _, a := range c.Actions {
		if a.Name == name {
			return a
		}
	}
	return nil
}

// Registry holds connectors by name. The zero value is empty and ready to use;
// tests build isolated registries, the binary uses builtin.Registry().
type Registry struct {
	mu         sync.RWMutex
	connectors map[string]*Connector
}

// Register adds a connector. It refuses a duplicate or malformed one.
func (r *Registry) Register(c *Connector) error {
	if c == nil || c.Name == "" {
		return fmt.Errorf("registering connector: name is empty")
	}
	seen := map[string]bool{}
	for _, a := range c.Actions {
		if a.Name == "" || a.Do == nil {
			return fmt.Errorf("registering connector %q: action %q has no name or no Do function", c.Name, a.Name)
		}
		if seen[a.Name] {
			return fmt.Errorf("registering connector %q: duplicate action %q", c.Name, a.Name)
		}
		seen[a.Name] = true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.connectors == nil {
		r.connectors = map[string]*Connector{}
	}
	if _, dup := r.connectors[c.Name]; dup {
		return fmt.Errorf("registering connector %q: a connector with that name is already registered", c.Name)
	}
	r.connectors[c.Name] = c
	return nil
}

// MustRegister is Register for static lists; it panics on a programming error.
func (r *Registry) MustRegister(cs ...*Connector) *Registry {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
	return r
}

// Lookup returns the named connector, or nil.
func (r *Registry) Lookup(name string) *Connector {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.connectors[name]
}

// All returns every connector sorted by name.
func (r *Registry) All() []*Connector {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]*Connector, 0, len(r.connectors))
	for _, c := range r.connectors {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
