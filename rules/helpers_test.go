package rules

import (
	"testing"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"

	"github.com/casebridge/casebridge/areas"
	"github.com/casebridge/casebridge/config"
)

// demoCatalogue is the demo council's catalogue, as cmd/casebridge builds it
// from the configuration and the areas file.
func demoCatalogue() Catalogue {
	cat := config.Demo().Catalogue()
	cat.Areas = areas.Demo().Names()
	return cat
}

// demoCompiled is the demo rule set compiled as version 1.
func demoCompiled(t testing.TB) *Compiled {
	t.Helper()
	c, err := compile(Demo(), 1, demoCatalogue())
	if err != nil {
		t.Fatalf("demo rules do not compile:\n%v", err)
	}
	return c
}

// testCatalogue is a small catalogue for sets written in tests.
func testCatalogue() Catalogue {
	return Catalogue{
		Departments: []string{"triage", "highways", "waste"},
		Teams:       map[string][]string{"triage": {"contact-centre"}, "highways": {"roads-north", "drainage"}},
		Partners:    []string{"ukpn", "thames-water"},
		SLAPolicies: []string{"pothole", "triage"},
	}
}

func parserConfigParse(src string) (ast.Node, error) {
	tree, err := parser.ParseWithConfig(src, parserConfig())
	if err != nil {
		return nil, err
	}
	return tree.Node, nil
}
