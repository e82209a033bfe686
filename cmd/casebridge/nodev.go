//go:build nodev

package main

import (
	"context"
	"errors"
	"io"
)

// runDev is left out of production images, which do not carry the embedded
// Temporal server.
func runDev(context.Context, []string, func(string) string, io.Writer, io.Writer) error {
	return errors.New("this casebridge was built without `dev` (build tag nodev); use api and worker, or build without -tags nodev")
}
