// Package flowgraph draws a flow as a graph, in Mermaid or Graphviz DOT:
// steps as nodes in document order, branches of if, switch, parallel and
// foreach steps, waits labelled with their event, jumps of on_error and
// on_timeout as dotted edges and compensations as dashed ones. The output
// depends only on the flow, so it can be checked in and diffed.
package flowgraph

import (
	"fmt"
	"strings"
	"time"

	"github.com/relay-dev/relay/definitions"
)

type shape int

const (
	shapeStep shape = iota
	shapeDecision
	shapeFork
	shapeJoin
	shapeTerminal
	shapeWait
	shapeFlow
	shapeLoop
)

type style int

const (
	solid style = iota
	dashed
	dotted
)

type node struct {
	id    string
	lines []string
	shape shape
}

type edge struct {
	from, to, label string
	style           style
}

// exit is a way out of a part of the graph, waiting for what comes next.
type exit struct {
	from, label string
}

type graph struct {
	nodes []node
	edges []edge
	ids   map[*definitions.Step]string
	// compensating draws the edges of compensation steps dashed.
	compensating bool
}

func build(f *definitions.Flow) *graph {
	g := &graph{ids: map[*definitions.Step]string{}}
	g.number(f.Steps)
	start := []string{fmt.Sprintf("%s v%d", f.ID, f.Version)}
	if t := f.Trigger; t != nil && t.Webhook != nil {
		start = append(start, "webhook "+t.Webhook.Path)
	}
	if t := f.Trigger; t != nil && t.Schedule != nil {
		if t.Schedule.Cron != "" {
			start = append(start, "schedule "+t.Schedule.Cron)
		} else {
			start = append(start, "every "+duration(t.Schedule.Interval))
		}
	}
	g.nodes = append(g.nodes, node{id: "start", lines: start, shape: shapeTerminal})
	exits := g.seq(f.Steps, []exit{{from: "start"}})
	g.nodes = append(g.nodes, node{id: "finish", lines: []string{"end"}, shape: shapeTerminal})
	g.connect(exits, "finish")
	return g
}

// number names every step's node s1, s2, … in the order the nodes are
// drawn, before drawing, so that jumps forward know their target.
func (g *graph) number(steps []*definitions.Step) {
	for _, s := range steps {
		g.ids[s] = fmt.Sprintf("s%d", len(g.ids)+1)
		g.number(s.Then)
		g.number(s.Else)
		for _, c := range s.Cases {
			g.number(c.Steps)
		}
		g.number(s.Default)
		for _, b := range s.Branches {
			g.number(b.Steps)
		}
		g.number(s.Body)
		g.number(s.Compensate)
	}
}

func (g *graph) connect(exits []exit, to string) {
	st := solid
	if g.compensating {
		st = dashed
	}
	for _, e := range exits {
		g.edges = append(g.edges, edge{from: e.from, to: to, label: e.label, style: st})
	}
}

func (g *graph) seq(steps []*definitions.Step, in []exit) []exit {
	for _, s := range steps {
		in = g.step(s, in)
	}
	return in
}

func (g *graph) step(s *definitions.Step, in []exit) []exit {
	id := g.ids[s]
	g.nodes = append(g.nodes, node{id: id, lines: labelOf(s), shape: shapeOf(s)})
	g.connect(in, id)
	var out []exit
	switch s.Kind {
	case definitions.KindIf:
		out = g.seq(s.Then, []exit{{id, "then"}})
		if len(s.Else) > 0 {
			out = append(out, g.seq(s.Else, []exit{{id, "else"}})...)
		} else {
			out = append(out, exit{id, "else"})
		}
	case definitions.KindSwitch:
		for _, c := range s.Cases {
			label := "case"
			if c.When != nil {
				label = "when " + c.When.Source
			}
			out = append(out, g.seq(c.Steps, []exit{{id, label}})...)
		}
		if len(s.Default) > 0 {
			out = append(out, g.seq(s.Default, []exit{{id, "default"}})...)
		} else {
			out = append(out, exit{id, "default"})
		}
	case definitions.KindParallel:
		join := id + "_join"
		var ends []exit
		for i, b := range s.Branches {
			name := b.Name
			if name == "" {
				name = fmt.Sprintf("branch %d", i+1)
			}
			ends = append(ends, g.seq(b.Steps, []exit{{id, name}})...)
		}
		g.nodes = append(g.nodes, node{id: join, shape: shapeJoin})
		g.connect(ends, join)
		out = []exit{{join, ""}}
	case definitions.KindForeach:
		g.connect(g.seq(s.Body, []exit{{id, "each item"}}), id)
		out = []exit{{id, "done"}}
	default:
		out = []exit{{id, ""}}
	}
	if s.Wait != nil && s.Wait.OnTimeout.Action == definitions.OnErrorGoto {
		g.jump(id, s.Wait.OnTimeout.Goto, "timeout")
	}
	if s.OnError.Action == definitions.OnErrorGoto {
		g.jump(id, s.OnError.Goto, "on error")
	}
	if len(s.Compensate) > 0 {
		was := g.compensating
		g.compensating = true
		// The compensations hang off the step; they run on failure, not
		// after it, so their exits lead nowhere.
		g.seq(s.Compensate, []exit{{id, "compensate"}})
		g.compensating = was
	}
	return out
}

// jump draws an on_error or on_timeout goto. Step IDs are unique in a
// flow, so one step matches.
func (g *graph) jump(from, target, label string) {
	for s, id := range g.ids {
		if s.ID == target {
			g.edges = append(g.edges, edge{from: from, to: id, label: label, style: dotted})
		}
	}
}

func shapeOf(s *definitions.Step) shape {
	switch s.Kind {
	case definitions.KindIf, definitions.KindSwitch:
		return shapeDecision
	case definitions.KindParallel:
		return shapeFork
	case definitions.KindWait, definitions.KindSleep:
		return shapeWait
	case definitions.KindFlow:
		return shapeFlow
	case definitions.KindForeach:
		return shapeLoop
	}
	return shapeStep
}

func labelOf(s *definitions.Step) []string {
	lines := []string{s.ID}
	switch s.Kind {
	case definitions.KindCall:
		lines = append(lines, "call "+s.Connection+"."+s.Action)
	case definitions.KindSet:
		names := make([]string, len(s.Set))
		for i, a := range s.Set {
			names[i] = a.Name
		}
		lines = append(lines, "set "+strings.Join(names, ", "))
	case definitions.KindIf:
		lines = append(lines, "if "+s.Cond.Source)
	case definitions.KindSwitch:
		lines = append(lines, "switch")
	case definitions.KindParallel:
		lines = append(lines, "parallel")
	case definitions.KindForeach:
		lines = append(lines, "foreach "+s.Items.Source)
	case definitions.KindSleep:
		lines = append(lines, "sleep "+duration(s.Duration))
	case definitions.KindWait:
		w := "wait " + s.Wait.Event
		if s.Wait.Timeout > 0 {
			w += ", timeout " + duration(s.Wait.Timeout)
		}
		lines = append(lines, w)
	case definitions.KindFlow:
		lines = append(lines, "flow "+s.Flow)
	default:
		lines = append(lines, string(s.Kind))
	}
	if a := s.OnError.Action; a != "" && a != definitions.OnErrorFail && a != definitions.OnErrorGoto {
		lines = append(lines, "on error: "+string(a))
	}
	return lines
}

// duration prints 1h30m rather than 1h30m0s.
func duration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// Mermaid returns the flow as a Mermaid flowchart.
func Mermaid(f *definitions.Flow) string {
	g := build(f)
	var b strings.Builder
	b.WriteString("flowchart TD\n")
	for _, n := range g.nodes {
		label := mermaidText(strings.Join(n.lines, "\n"))
		switch n.shape {
		case shapeDecision:
			fmt.Fprintf(&b, "  %s{\"%s\"}\n", n.id, label)
		case shapeFork:
			fmt.Fprintf(&b, "  %s[[\"%s\"]]\n", n.id, label)
		case shapeJoin:
			fmt.Fprintf(&b, "  %s((\" \"))\n", n.id)
		case shapeTerminal:
			fmt.Fprintf(&b, "  %s([\"%s\"])\n", n.id, label)
		case shapeWait:
			fmt.Fprintf(&b, "  %s[/\"%s\"/]\n", n.id, label)
		case shapeFlow:
			fmt.Fprintf(&b, "  %s[[\"%s\"]]\n", n.id, label)
		case shapeLoop:
			fmt.Fprintf(&b, "  %s{{\"%s\"}}\n", n.id, label)
		default:
			fmt.Fprintf(&b, "  %s[\"%s\"]\n", n.id, label)
		}
	}
	for _, e := range g.edges {
		arrow := "-->"
		if e.style != solid {
			arrow = "-.->"
		}
		if e.label == "" {
			fmt.Fprintf(&b, "  %s %s %s\n", e.from, arrow, e.to)
		} else {
			fmt.Fprintf(&b, "  %s %s|\"%s\"| %s\n", e.from, arrow, mermaidText(e.label), e.to)
		}
	}
	return b.String()
}

var mermaidEscaper = strings.NewReplacer(
	"#", "#35;", `"`, "#quot;", "<", "#lt;", ">", "#gt;", "|", "#124;", "\n", "<br/>",
)

func mermaidText(s string) string { return mermaidEscaper.Replace(s) }

// DOT returns the flow as a Graphviz digraph.
func DOT(f *definitions.Flow) string {
	g := build(f)
	var b strings.Builder
	fmt.Fprintf(&b, "digraph %s {\n  rankdir=TB;\n  node [shape=box, style=rounded, fontname=\"Helvetica\"];\n  edge [fontname=\"Helvetica\", fontsize=10];\n", dotText(f.ID))
	for _, n := range g.nodes {
		label := dotText(strings.Join(n.lines, "\n"))
		switch n.shape {
		case shapeDecision:
			fmt.Fprintf(&b, "  %s [shape=diamond, style=solid, label=%s];\n", n.id, label)
		case shapeFork:
			fmt.Fprintf(&b, "  %s [shape=box, style=bold, label=%s];\n", n.id, label)
		case shapeJoin:
			fmt.Fprintf(&b, "  %s [shape=point, width=0.15];\n", n.id)
		case shapeTerminal:
			fmt.Fprintf(&b, "  %s [shape=oval, style=solid, label=%s];\n", n.id, label)
		case shapeWait:
			fmt.Fprintf(&b, "  %s [shape=parallelogram, style=solid, label=%s];\n", n.id, label)
		case shapeFlow:
			fmt.Fprintf(&b, "  %s [shape=box3d, style=solid, label=%s];\n", n.id, label)
		case shapeLoop:
			fmt.Fprintf(&b, "  %s [shape=hexagon, style=solid, label=%s];\n", n.id, label)
		default:
			fmt.Fprintf(&b, "  %s [label=%s];\n", n.id, label)
		}
	}
	for _, e := range g.edges {
		var attrs []string
		if e.label != "" {
			attrs = append(attrs, "label="+dotText(e.label))
		}
		switch e.style {
		case dashed:
			attrs = append(attrs, "style=dashed")
		case dotted:
			attrs = append(attrs, "style=dotted")
		}
		if len(attrs) == 0 {
			fmt.Fprintf(&b, "  %s -> %s;\n", e.from, e.to)
		} else {
			fmt.Fprintf(&b, "  %s -> %s [%s];\n", e.from, e.to, strings.Join(attrs, ", "))
		}
	}
	b.WriteString("}\n")
	return b.String()
}

var dotEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

func dotText(s string) string { return `"` + dotEscaper.Replace(s) + `"` }
