package api

import (
	"errors"
	"io"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/casebridge/casebridge/activities/backoffice"
)

// BackOffices receives back offices' webhook calls.
type BackOffices struct {
	// Inbound brings each system's changes to its cases, by name.
	Inbound map[string]*backoffice.Inbound
	// Secret returns the secret a system signs its calls with ("" refuses
	// every call).
	Secret func(system string) string
	// Store checks signatures and uses each nonce once.
	Store *backoffice.Store
}

// maxWebhookBody bounds a back office's webhook call.
const maxWebhookBody = 1 << 20

func (s *Server) backOfficeRoutes(g *gin.RouterGroup) {
	g.POST("/backoffices/:name/events", s.backOfficeEvents)
}

// backOfficeEvents takes the changes a back office posts: signed as
// internal/signing says, within the replay window, each nonce once.
// Every change is signalled to its case until the case has it; a repeat is
// answered 200 and changes nothing.
func (s *Server) backOfficeEvents(c *gin.Context) {
	name := c.Param("name")
	bo := s.deps.BackOffices
	in, ok := bo.Inbound[name]
	if !ok || bo.Store == nil {
		problem(c, http.StatusNotFound, "Not found", "no back office "+name+" is configured", "name")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, maxWebhookBody))
	if err != nil {
		problem(c, http.StatusRequestEntityTooLarge, "Body too large", "a webhook call is at most 1 MiB", "body")
		return
	}
	err = bo.Store.Verify(c.Request.Context(), name, bo.Secret(name), c.Request.Header, body, s.deps.Now())
	switch {
	case signatureRefused(c, err):
		return
	case err != nil:
		s.log.Error("back-office webhook: verify", "back_office", name, "error", err)
		problem(c, http.StatusServiceUnavailable, "Try again", "the call could not be checked; send it again", "")
		return
	}
	n, err := in.Receive(c.Request.Context(), body)
	var bad *backoffice.BadInput
	switch {
	case errors.As(err, &bad):
		problem(c, http.StatusUnprocessableEntity, "Invalid changes", bad.Error(), "changes")
		return
	case err != nil:
		// Changes before the failure were delivered; the system sends the
		// call again (with a new nonce) and those are skipped.
		s.log.Error("back-office webhook: deliver", "back_office", name, "delivered", n, "error", err)
		problem(c, http.StatusServiceUnavailable, "Try again", "the changes could not all be delivered; send them again", "")
		return
	}
	c.JSON(http.StatusOK, gin.H{"delivered": n})
}
