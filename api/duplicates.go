package api

import (
	"context"
	"fmt"

	"github.com/gin-gonic/gin"

	"github.com/casebridge/casebridge/cases"
)

// Duplicates merges cases and confirms or undoes duplicate links
// (caseflow.Client).
type Duplicates interface {
	Merge(ctx context.Context, ref string, l cases.DuplicateLink, requestID string) (*cases.Case, error)
	ConfirmDuplicate(ctx context.Context, ref string, l cases.DuplicateLink, requestID string) (*cases.Case, error)
	Unlink(ctx context.Context, ref string, l cases.DuplicateLink, requestID string) (*cases.Case, error)
}

// duplicateRoutes are the supervisors' merge, confirm and undo.
func (s *Server) duplicateRoutes(g *gin.RouterGroup, supervisors gin.HandlerFunc) {
	if s.deps.Duplicates == nil {
		return
	}
	g.POST("/cases/:ref/duplicate", supervisors, s.merge)
	g.POST("/cases/:ref/duplicate/confirm", supervisors, s.confirmDuplicate)
	g.POST("/cases/:ref/duplicate/undo", supervisors, s.unlinkDuplicate)
}

// mergeTarget checks the case a merge names: it must exist, be open and not
// be a duplicate itself (then the merge names its parent instead).
func (s *Server) mergeTarget(ctx context.Context, ref, parent string) error {
	p := cases.NormalizeRef(s.cfg.Council.RefPrefix, parent)
	if !cases.ValidRef(s.cfg.Council.RefPrefix, p) {
		return &cases.InputError{Field: "parent", Reason: fmt.Sprintf("%q is not a case reference", clip(parent))}
	}
	if p == ref {
		return &cases.InputError{Field: "parent", Reason: "a case cannot duplicate itself"}
	}
	k, err := s.deps.Cases.Get(ctx, p)
	switch {
	case err != nil:
		return &cases.InputError{Field: "parent", Reason: "there is no open case " + p}
	case k.DuplicateOf != "":
		return &cases.InputError{Field: "parent", Reason: p + " is itself a duplicate of " + k.DuplicateOf + "; merge into " + k.DuplicateOf}
	case k.Status.Closed():
		return &cases.InputError{Field: "parent", Reason: p + " is closed; reopen it or merge into an open case"}
	}
	return nil
}

func (s *Server) merge(c *gin.Context) {
	change(s, c, "merge", func(b struct {
		Parent string `json:"parent"`
		Note   string `json:"note"`
	}, actor string) (func(context.Context, string, string) (*cases.Case, error), string, string) {
		return func(ctx context.Context, ref, id string) (*cases.Case, error) {
			if err := s.mergeTarget(ctx, ref, b.Parent); err != nil {
				return nil, err
			}
			l := cases.DuplicateLink{Parent: cases.NormalizeRef(s.cfg.Council.RefPrefix, b.Parent), Note: b.Note, Actor: actor}
			return s.deps.Duplicates.Merge(ctx, ref, l, id)
		}, "", ""
	})
}

func (s *Server) confirmDuplicate(c *gin.Context) {
	change(s, c, "confirm-duplicate", func(_ struct{}, actor string) (func(context.Context, string, string) (*cases.Case, error), string, string) {
		return func(ctx context.Context, ref, id string) (*cases.Case, error) {
			return s.deps.Duplicates.ConfirmDuplicate(ctx, ref, cases.DuplicateLink{Actor: actor}, id)
		}, "", ""
	})
}

func (s *Server) unlinkDuplicate(c *gin.Context) {
	change(s, c, "undo-duplicate", func(b struct {
		Note string `json:"note"`
	}, actor string) (func(context.Context, string, string) (*cases.Case, error), string, string) {
		return func(ctx context.Context, ref, id string) (*cases.Case, error) {
			return s.deps.Duplicates.Unlink(ctx, ref, cases.DuplicateLink{Note: b.Note, Actor: actor}, id)
		}, "", ""
	})
}
