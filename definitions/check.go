package definitions

import (
	"math"
	"strings"

	"github.com/expr-lang/expr/ast"
)

// check runs the rules that need the whole flow: which steps an expression
// may read, goto targets, inputs read by expressions, and item/index outside
// a foreach.
func (p *parser) check(f *Flow) {
	p.top = f.Steps
	p.checkSeq(f.Steps, map[string]bool{}, nil, false)
	if p.output != nil {
		// The output is evaluated when every step is done: it may read any
		// step but a compensation step, which runs only when a run fails.
		visible := map[string]bool{}
		for _, s := range f.Steps {
			visible[s.ID] = true
			p.ran(s, visible)
		}
		end := &Step{Pos: Pos{Line: math.MaxInt}}
		for _, e := range p.output.exprs {
			p.checkExpr(end, e, visible, nil, false)
		}
	}
}

// checkSeq checks one list of steps. visible holds the steps that have run
// before the list starts; concurrent maps the steps of sibling parallel
// branches to their parallel step.
func (p *parser) checkSeq(steps []*Step, visible map[string]bool, concurrent map[string]*Step, inLoop bool) {
	seq := map[string]bool{}
	for _, s := range steps {
		seq[s.ID] = true
	}
	for i, s := range steps {
		m := p.meta[s]
		for _, g := range m.gotos {
			p.checkGoto(s, g, seq)
		}
		for _, e := range m.exprs {
			p.checkExpr(s, e, visible, concurrent, inLoop)
		}
		nested := func(list []*Step, c map[string]*Step, loop bool) {
			if len(list) > 0 {
				p.checkSeq(list, clone(visible), c, loop)
			}
		}
		nested(s.Then, concurrent, inLoop)
		nested(s.Else, concurrent, inLoop)
		for _, c := range s.Cases {
			nested(c.Steps, concurrent, inLoop)
		}
		nested(s.Default, concurrent, inLoop)
		for i, b := range s.Branches {
			c := clone(concurrent)
			for j, other := range s.Branches {
				if j == i {
					continue
				}
				Walk(other.Steps, func(x *Step) bool {
					c[x.ID] = s
					return true
				})
			}
			nested(b.Steps, c, inLoop)
		}
		nested(s.Body, concurrent, true)

		visible[s.ID] = true
		// visible is for the steps after s and its compensation: the
		// list's last step without one has no reader, and skipping it keeps
		// a deep chain of nested steps from marking each one again at every
		// level above it.
		if i < len(steps)-1 || len(s.Compensate) > 0 {
			p.ran(s, visible)
		}
		nested(s.Compensate, concurrent, inLoop)
	}
}

// ran marks in visible the steps nested in s whose output may be read
// once s is done: all but compensation steps and the steps of a foreach
// body, which each iteration runs in a scope of its own that ends with the
// iteration. A pinned definition (see ParsePinned) may still read the
// latter: they read nil, as they did when its run started. It marks into
// the map rather than returning a list, which each level of nesting would
// copy again: a few thousand nested steps then took seconds.
func (p *parser) ran(s *Step, visible map[string]bool) {
	lists := [][]*Step{s.Then, s.Else, s.Default}
	if p.pinned {
		lists = append(lists, s.Body)
	}
	for _, c := range s.Cases {
		lists = append(lists, c.Steps)
	}
	for _, b := range s.Branches {
		lists = append(lists, b.Steps)
	}
	for _, list := range lists {
		for _, x := range list {
			visible[x.ID] = true
			p.ran(x, visible)
		}
	}
}

// enclose records, for every step under steps, the foreach steps whose
// bodies hold it, outermost first.
func (p *parser) enclose(steps []*Step, loops []*Step) {
	for _, s := range steps {
		p.loops[s] = loops
		lists := [][]*Step{s.Then, s.Else, s.Default, s.Compensate}
		for _, c := range s.Cases {
			lists = append(lists, c.Steps)
		}
		for _, b := range s.Branches {
			lists = append(lists, b.Steps)
		}
		for _, list := range lists {
			p.enclose(list, loops)
		}
		if len(s.Body) > 0 {
			p.enclose(s.Body, append(loops[:len(loops):len(loops)], s))
		}
	}
}

// loopAround returns the outermost foreach whose body holds t but not s,
// or nil: t's output then lives only in that loop's iterations.
func (p *parser) loopAround(t, s *Step) *Step {
	if p.loops == nil {
		p.loops = map[*Step][]*Step{}
		p.enclose(p.top, nil)
	}
	for _, l := range p.loops[t] {
		if !containsStep(p.loops[s], l) {
			return l
		}
	}
	return nil
}

func containsStep(list []*Step, s *Step) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func clone[V any](m map[string]V) map[string]V {
	out := make(map[string]V, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func (p *parser) checkGoto(s *Step, g gotoAt, seq map[string]bool) {
	if seq[g.target] {
		return
	}
	if t := p.ids[g.target]; t != nil {
		p.errorf(g.node, g.path, "goto target %q is not in the same list of steps as step %q (it is at line %d): goto jumps only within one list", g.target, s.ID, t.Pos.Line)
		return
	}
	p.errorf(g.node, g.path, "goto target %q is not a step of this flow", g.target)
}

func (p *parser) checkExpr(s *Step, e exprAt, visible map[string]bool, concurrent map[string]*Step, inLoop bool) {
	pos := e.expr.Pos
	for _, id := range e.expr.StepRefs() {
		if visible[id] {
			continue
		}
		t := p.ids[id]
		switch {
		case t == nil:
			p.errorAt(pos, e.path, "expression reads steps.%s, but no step has id %q", id, id)
		case concurrent[id] != nil:
			p.errorAt(pos, e.path, "expression reads steps.%s, which runs at the same time in another branch of parallel step %q", id, concurrent[id].ID)
		case t == s:
			p.errorAt(pos, e.path, "expression reads steps.%s, the step itself, whose output exists only after it runs (a compensate step may read it)", id)
		case p.compensating[t]:
			p.errorAt(pos, e.path, "expression reads steps.%s, a compensation step, which runs only when the run fails", id)
		case t.Pos.Line > s.Pos.Line || (t.Pos.Line == s.Pos.Line && t.Pos.Col > s.Pos.Col):
			p.errorAt(pos, e.path, "expression reads steps.%s, which is defined later (line %d): a step may read only steps that run before it", id, t.Pos.Line)
		default:
			if loop := p.loopAround(t, s); loop != nil && visible[loop.ID] {
				p.errorAt(pos, e.path, "expression reads steps.%s, which is inside foreach %q (line %d): its steps are visible only inside the loop, one iteration at a time; read steps.%s.output, the list of each iteration's last step output", id, loop.ID, loop.Pos.Line, loop.ID)
			} else {
				p.errorAt(pos, e.path, "expression reads steps.%s, which does not run before this step: it is in another branch (line %d)", id, t.Pos.Line)
			}
		}
	}
	if e.expr.program == nil {
		return
	}
	v := &nameVisitor{}
	node := e.expr.program.Node()
	ast.Walk(&node, v)
	for _, name := range v.inputs {
		if p.decls[name] != nil {
			continue
		}
		if len(p.decls) == 0 {
			p.errorAt(pos, e.path, "expression reads input.%s, but the flow declares no inputs", name)
		} else {
			names := sortedNames(p.decls)
			p.errorAt(pos, e.path, "expression reads input.%s, but the flow declares no input %q%s; inputs: %s", name, name, didYouMean(name, names), strings.Join(names, ", "))
		}
	}
	if !inLoop {
		for _, name := range v.loopVars {
			p.errorAt(pos, e.path, "expression reads %s, which is bound only inside the steps of a foreach", name)
		}
	}
	if !p.pinned {
		for _, name := range v.refused {
			p.errorAt(pos, e.path, "expression reads %s, which no expression can: %s", name, refusedNames[name])
		}
	}
}

// nameVisitor collects the inputs an expression reads, its uses of the
// loop variables and of refused names.
type nameVisitor struct {
	inputs   []string
	loopVars []string
	refused  []string
}

func (v *nameVisitor) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.MemberNode:
		id, ok := n.Node.(*ast.IdentifierNode)
		if !ok || id.Value != "input" {
			return
		}
		if s, ok := n.Property.(*ast.StringNode); ok && !contains(v.inputs, s.Value) {
			v.inputs = append(v.inputs, s.Value)
		}
	case *ast.IdentifierNode:
		if (n.Value == "item" || n.Value == "index") && !contains(v.loopVars, n.Value) {
			v.loopVars = append(v.loopVars, n.Value)
		}
		if refusedNames[n.Value] != "" && !contains(v.refused, n.Value) {
			v.refused = append(v.refused, n.Value)
		}
	}
}
