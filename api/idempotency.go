package api

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/casebridge/casebridge/cases"
)

// updateID is the Temporal update ID for a client's idempotency key: the key
// scoped to the channel (staff API, console), the caller and the operation.
// Temporal keeps one namespace of update IDs per case, whatever the update,
// and answers an ID it has seen with the first answer without running
// anything: an unscoped key would let one person's change answer for
// another's, which would then never be applied. A long key is hashed so the
// ID stays short. No key, no ID: the change is not deduplicated.
func updateID(channel, caller, op, key string) string {
	if key == "" {
		return ""
	}
	if len(key) > 64 {
		sum := sha256.Sum256([]byte(key))
		key = "sha256-" + hex.EncodeToString(sum[:])
	}
	// The caller is escaped, so that no name with a colon in it can pass for
	// another caller's operation.
	return channel + ":" + url.QueryEscape(caller) + ":" + op + ":" + key
}

// operation names a change for updateID: its name, and the escalation it
// acknowledges, if any.
func operation(c *gin.Context, name string) string {
	if seq := c.Param("seq"); seq != "" {
		return name + "-" + seq
	}
	return name
}

// idempotencyKey reads a staff API request's Idempotency-Key header: at most
// cases.MaxIdempotencyKey printable ASCII characters (the header is a
// structured-field string), or the request is answered 422.
func idempotencyKey(c *gin.Context) (string, bool) {
	key := c.GetHeader("Idempotency-Key")
	if len(key) > cases.MaxIdempotencyKey || strings.ContainsFunc(key, func(r rune) bool { return r < ' ' || r > '~' }) {
		problem(c, http.StatusUnprocessableEntity, "Invalid request",
			fmt.Sprintf("Idempotency-Key is at most %d printable ASCII characters: send a fresh random one, a UUID say", cases.MaxIdempotencyKey), "Idempotency-Key")
		return "", false
	}
	return key, true
}

// staffUpdateID is the update ID for a staff API change named op.
func staffUpdateID(c *gin.Context, op string) (string, bool) {
	key, ok := idempotencyKey(c)
	return updateID("staff", who(c).Name, operation(c, op), key), ok
}
