package api

import (
	"context"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/casebridge/casebridge/notify"
)

// Outbox reads the escalation notices sent, or waiting, for each recipient
// (notify.Store).
type Outbox interface {
	Outbox(ctx context.Context, address string, limit int, before string) ([]notify.Entry, error)
	Recent(ctx context.Context, limit int, before string) ([]notify.Entry, error)
}

// notifications serves GET /notifications: the newest notices for one
// recipient (?recipient=head.highways@council.example or webhook:<name>), or
// for everyone; page on with ?before=<key of the last one>.
func (s *Server) notifications(c *gin.Context) {
	limit := notify.DefaultPageSize
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > notify.MaxPageSize {
			problem(c, http.StatusUnprocessableEntity, "Invalid query", "limit is a number from 1 to "+strconv.Itoa(notify.MaxPageSize), "limit")
			return
		}
		limit = n
	}
	var (
		entries []notify.Entry
		err     error
	)
	if r := c.Query("recipient"); r != "" {
		entries, err = s.deps.Outbox.Outbox(c.Request.Context(), r, limit, c.Query("before"))
	} else {
		entries, err = s.deps.Outbox.Recent(c.Request.Context(), limit, c.Query("before"))
	}
	if err != nil {
		s.domainProblem(c, err)
		return
	}
	if entries == nil {
		entries = []notify.Entry{}
	}
	next := ""
	if len(entries) == limit {
		next = entries[len(entries)-1].Key
	}
	c.JSON(http.StatusOK, gin.H{"notifications": entries, "next": next})
}
