package api

import (
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/casebridge/casebridge/internal/signing"
)

// signatureRefused answers a call whose signature internal/signing refused,
// the same way on every signed endpoint (partners' callbacks, back offices'
// webhooks): a nonce used before is 409, so a sender knows to send the call
// with a new one; any other fault of the signature is 401, naming the header
// at fault. It reports whether it answered.
func signatureRefused(c *gin.Context, err error) bool {
	var se *signing.Error
	switch {
	case errors.Is(err, signing.ErrReplayed):
		problem(c, http.StatusConflict, "Replayed call", "this nonce has been used already; send each call with a new nonce", signing.HeaderNonce)
	case errors.As(err, &se):
		problem(c, http.StatusUnauthorized, "Signature refused", se.Reason, se.Header)
	default:
		return false
	}
	return true
}
