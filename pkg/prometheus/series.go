package prometheus

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/prometheus/promql/parser"
)

// DefaultSeriesWindow is how far back a selector's series are looked for: a series
// seen in the last hour exists, even when its target is down right now.
const DefaultSeriesWindow = time.Hour

// selectorConcurrency bounds the queries in flight for one SeriesExist call.
const selectorConcurrency = 16

// promql is the parser the plugin reads alert expressions with: Prometheus's own,
// with its default options.
var promql = parser.NewParser(parser.Options{})

// Expr is a parsed alert expression.
type Expr struct {
	root parser.Expr
}

// ParseExpr parses a PromQL expression with Prometheus's own parser.
func ParseExpr(query string) (*Expr, error) {
	e, err := promql.ParseExpr(query)
	if err != nil {
		return nil, fmt.Errorf("parse PromQL %q: %w", query, err)
	}
	return &Expr{root: e}, nil
}

// Selectors lists the distinct vector selectors the expression needs series for,
// printed without offset or @ (so they can be asked for now), in order of
// appearance. Selectors inside absent() and absent_over_time() are left out: those
// are written to fire when their series are missing.
func (e *Expr) Selectors() []string {
	seen := map[string]bool{}
	var out []string
	var walk func(n parser.Node)
	walk = func(n parser.Node) {
		switch n := n.(type) {
		case *parser.Call:
			if wantsAbsence(n) {
				return
			}
		case *parser.VectorSelector:
			s := plainSelector(n)
			if !seen[s] {
				seen[s] = true
				out = append(out, s)
			}
			return
		}
		for child := range parser.ChildrenIter(n) {
			walk(child)
		}
	}
	walk(e.root)
	return out
}

// CanProduce tells whether the expression can return any sample at all, given
// which selectors have series (exists is keyed by the strings Selectors returns).
// It follows PromQL's semantics coarsely: `a or b` needs either side, `a unless b`
// needs a, any other operation between two vectors needs both, a function or an
// aggregation needs its vector arguments, and absent() always can.
func (e *Expr) CanProduce(exists map[string]bool) bool {
	return canProduce(e.root, exists)
}

func canProduce(n parser.Node, exists map[string]bool) bool {
	switch n := n.(type) {
	case *parser.VectorSelector:
		return exists[plainSelector(n)]
	case *parser.MatrixSelector:
		return canProduce(n.VectorSelector, exists)
	case *parser.SubqueryExpr:
		return canProduce(n.Expr, exists)
	case *parser.ParenExpr:
		return canProduce(n.Expr, exists)
	case *parser.UnaryExpr:
		return canProduce(n.Expr, exists)
	case *parser.StepInvariantExpr:
		return canProduce(n.Expr, exists)
	case *parser.AggregateExpr:
		return canProduce(n.Expr, exists)
	case *parser.Call:
		if wantsAbsence(n) {
			return true
		}
		for _, arg := range n.Args {
			if isVectorish(arg) && !canProduce(arg, exists) {
				return false
			}
		}
		return true
	case *parser.BinaryExpr:
		lv, rv := isVectorish(n.LHS), isVectorish(n.RHS)
		switch {
		case !lv && !rv:
			return true
		case !rv:
			return canProduce(n.LHS, exists)
		case !lv:
			return canProduce(n.RHS, exists)
		}
		switch n.Op {
		case parser.LOR:
			return canProduce(n.LHS, exists) || canProduce(n.RHS, exists)
		case parser.LUNLESS:
			return canProduce(n.LHS, exists)
		}
		return canProduce(n.LHS, exists) && canProduce(n.RHS, exists)
	}
	// Literals and anything this reading does not know: assume it can.
	return true
}

func isVectorish(e parser.Expr) bool {
	t := e.Type()
	return t == parser.ValueTypeVector || t == parser.ValueTypeMatrix
}

func wantsAbsence(c *parser.Call) bool {
	return c.Func != nil && (c.Func.Name == "absent" || c.Func.Name == "absent_over_time")
}

// plainSelector prints a selector's name and matchers only.
func plainSelector(vs *parser.VectorSelector) string {
	plain := &parser.VectorSelector{Name: vs.Name, LabelMatchers: vs.LabelMatchers}
	return plain.String()
}

// SeriesExist asks Prometheus, for each selector, whether it matched any series in
// the last window (count(last_over_time(SELECTOR[window]))), a few at a time.
// The answer maps every selector to true or false; the first error stops it.
func (c *Client) SeriesExist(ctx context.Context, selectors []string, window time.Duration, now time.Time) (map[string]bool, error) {
	if window <= 0 {
		window = DefaultSeriesWindow
	}
	uniq := map[string]bool{}
	for _, s := range selectors {
		uniq[s] = false
	}
	keys := make([]string, 0, len(uniq))
	for s := range uniq {
		keys = append(keys, s)
	}
	sort.Strings(keys)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
		sem      = make(chan struct{}, selectorConcurrency)
	)
	rng := formatWindow(window)
	for _, sel := range keys {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			vec, err := c.Vector(ctx, fmt.Sprintf("count(last_over_time(%s[%s]))", sel, rng), now)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if firstErr == nil {
					firstErr = err
					cancel()
				}
				return
			}
			uniq[sel] = len(vec) > 0 && vec[0].Value > 0
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	return uniq, nil
}

// formatWindow writes a duration in PromQL's syntax (whole seconds at least).
func formatWindow(d time.Duration) string {
	if d < time.Second {
		d = time.Second
	}
	return fmt.Sprintf("%ds", int64(d/time.Second))
}

// NoSeries is what SeriesExist and CanProduce say about one alert expression.
type NoSeries struct {
	// Missing lists the selectors that matched no series (empty when all did).
	Missing []string
	// CanFire is false when the expression cannot return anything with the series
	// that exist: the alert can never fire.
	CanFire bool
}

// CheckExpr combines a parsed expression with the existence answers.
func (e *Expr) CheckExpr(exists map[string]bool) NoSeries {
	var missing []string
	for _, s := range e.Selectors() {
		if !exists[s] {
			missing = append(missing, s)
		}
	}
	return NoSeries{Missing: missing, CanFire: e.CanProduce(exists)}
}

// AlertSeries is what ExprSeries found for one expression.
type AlertSeries struct {
	NoSeries
	// ParseErr is set when the expression does not parse.
	ParseErr error
}

// ExprSeries parses each query, asks once for every distinct selector among them,
// and tells for each query which selectors have no series and whether it can
// return anything at all. The answers are in the order of queries.
func (c *Client) ExprSeries(ctx context.Context, queries []string, window time.Duration, now time.Time) ([]AlertSeries, error) {
	out := make([]AlertSeries, len(queries))
	exprs := make([]*Expr, len(queries))
	var selectors []string
	for i, q := range queries {
		e, err := ParseExpr(q)
		if err != nil {
			out[i].ParseErr = err
			continue
		}
		exprs[i] = e
		selectors = append(selectors, e.Selectors()...)
	}
	exists, err := c.SeriesExist(ctx, selectors, window, now)
	if err != nil {
		return nil, err
	}
	for i, e := range exprs {
		if e != nil {
			out[i].NoSeries = e.CheckExpr(exists)
		}
	}
	return out, nil
}
