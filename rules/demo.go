package rules

import (
	"bytes"
	_ "embed"
)

// Routing is the name of the rule set that routes new cases.
const Routing = "routing"

//go:embed demo.yaml
var demoYAML []byte

// DemoYAML returns the demo council's routing rules, as `dev` seeds them.
func DemoYAML() []byte { return bytes.Clone(demoYAML) }

// Demo returns the demo council's routing rules.
func Demo() *Set {
	s, err := Parse(demoYAML)
	if err != nil {
		panic("demo.yaml is broken: " + err.Error()) // covered by TestDemo
	}
	return s
}
