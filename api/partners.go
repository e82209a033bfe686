package api

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/casebridge/casebridge/caseflow"
	"github.com/casebridge/casebridge/cases"
	"github.com/casebridge/casebridge/partners"
)

// Handoffs passes partners' callbacks to their hand-offs (caseflow.Client).
type Handoffs interface {
	PartnerCallback(ctx context.Context, handoffID string, ev cases.PartnerEvent, nonce string) error
}

// PartnerCallbacks checks partners' callbacks and remembers their nonces
// (partners.Verifier).
type PartnerCallbacks interface {
	Verify(ctx context.Context, partner string, h http.Header, body []byte) (partners.Callback, error)
	Release(ctx context.Context, partner, nonce string) error
}

// partnerRoutes are the partners' own: signed, not staff-authenticated.
func (s *Server) partnerRoutes(g *gin.RouterGroup) {
	if s.deps.Partners == nil || s.deps.Handoffs == nil {
		return
	}
	g.POST("/:partner/callbacks", s.partnerCallback)
}

// partnerCallback takes a partner's signed callback: accepted, rejected,
// progress or completed. The signature, the timestamp's window and the
// nonce are checked before anything else, so only a good callback can
// change a case.
func (s *Server) partnerCallback(c *gin.Context) {
	partner := c.Param("partner")
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, 1<<20))
	if err != nil {
		problem(c, http.StatusRequestEntityTooLarge, "Callback too large", "a callback is at most 1 MiB", "body")
		return
	}
	ctx := c.Request.Context()
	cb, err := s.deps.Partners.Verify(ctx, partner, c.Request.Header, body)
	var ie *cases.InputError
	switch {
	case errors.Is(err, partners.ErrUnknownPartner):
		problem(c, http.StatusNotFound, "No such partner", "no partner "+partner+" takes hand-offs here", "partner")
		return
	case signatureRefused(c, err):
		return
	case errors.As(err, &ie):
		problem(c, http.StatusUnprocessableEntity, "Invalid callback", ie.Reason, ie.Field)
		return
	case err != nil:
		s.log.Error("partner callback", "partner", partner, "error", err)
		problem(c, http.StatusServiceUnavailable, "Service unavailable", "could not check the callback; send it again shortly", "")
		return
	}
	if !strings.HasPrefix(cb.Handoff, "handoff-") {
		s.releaseNonce(ctx, partner, cb.Nonce)
		problem(c, http.StatusNotFound, "No such hand-off", "there is no hand-off "+cb.Handoff, "handoff")
		return
	}
	err = s.deps.Handoffs.PartnerCallback(ctx, cb.Handoff, cases.PartnerEvent{Partner: partner, Event: cb.Event, Note: cb.Note, Public: cb.Public}, cb.Nonce)
	var te *cases.TransitionError
	switch {
	case err == nil:
		c.JSON(http.StatusOK, gin.H{"handoff": cb.Handoff, "event": cb.Event, "applied": true})
	case errors.As(err, &ie):
		s.releaseNonce(ctx, partner, cb.Nonce)
		problem(c, http.StatusUnprocessableEntity, "Invalid callback", ie.Reason, ie.Field)
	case errors.As(err, &te):
		problem(c, http.StatusConflict, "Hand-off over", te.Reason, "handoff")
	case errors.Is(err, caseflow.ErrHandoffOver):
		problem(c, http.StatusConflict, "Hand-off over", "the hand-off has ended; nothing can change it now", "handoff")
	case errors.Is(err, cases.ErrNotFound):
		s.releaseNonce(ctx, partner, cb.Nonce)
		problem(c, http.StatusNotFound, "No such hand-off", "there is no hand-off "+cb.Handoff, "handoff")
	default:
		// Not applied: the partner's retry with the same nonce must pass.
		s.releaseNonce(ctx, partner, cb.Nonce)
		s.log.Error("partner callback", "partner", partner, "handoff", cb.Handoff, "error", err)
		problem(c, http.StatusServiceUnavailable, "Service unavailable", "the case engine did not answer; send the callback again shortly", "")
	}
}

func (s *Server) releaseNonce(ctx context.Context, partner, nonce string) {
	if err := s.deps.Partners.Release(ctx, partner, nonce); err != nil {
		s.log.Warn("release partner nonce", "partner", partner, "error", err)
	}
}
