package workflows

import (
	"strconv"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/casebridge/casebridge/cases"
)

// maxKeyword bounds every keyword search attribute the case sets. Temporal
// refuses a value over 2 KB and fails the workflow task that sets it; the
// API bounds what staff can type far below this, and this bound holds
// whatever reaches the workflow.
const maxKeyword = 255

func (r *run) upsertSearchAttributes(ctx workflow.Context) {
	if err := workflow.UpsertTypedSearchAttributes(ctx, r.searchAttributes()...); err != nil {
		workflow.GetLogger(ctx).Warn("upsert search attributes", "error", err)
	}
}

func (r *run) searchAttributes() []temporal.SearchAttributeUpdate {
	c := r.c
	u := []temporal.SearchAttributeUpdate{
		keyword(SAStatus, string(c.Status)),
		keyword(SADepartment, c.Department),
		keyword(SAServiceCode, c.Service.Code),
		keyword(SAPriority, string(c.Priority)),
		keyword(SASource, string(c.Report().Source)),
		SAReceivedAt.ValueSet(c.ReceivedAt),
		keywordOrUnset(SATeam, c.Team),
		keywordOrUnset(SAAssignee, c.Assignee),
	}
	if c.Routing != nil && c.Routing.RuleID != "" {
		u = append(u, keyword(SARoutingRule, c.Routing.RuleID))
	}
	if c.DueAt.IsZero() {
		u = append(u, SADueAt.ValueUnset())
	} else {
		u = append(u, SADueAt.ValueSet(c.DueAt))
	}
	if r.sla != nil {
		u = append(u, SAOverdue.ValueSet(r.sla.Overdue), SAEscalationLevel.ValueSet(int64(r.ladderLevel())))
	}
	return u
}

// searchSignature says, in one string, every value searchAttributes sets, so
// the loop can tell when they have changed.
func (r *run) searchSignature() string {
	c := r.c
	rule := ""
	if c.Routing != nil {
		rule = c.Routing.RuleID
	}
	parts := []string{string(c.Status), c.Department, c.Service.Code, string(c.Priority), string(c.Report().Source),
		c.ReceivedAt.Format(time.RFC3339Nano), c.Team, c.Assignee, rule, c.DueAt.Format(time.RFC3339Nano)}
	if r.sla != nil {
		parts = append(parts, strconv.FormatBool(r.sla.Overdue), strconv.Itoa(r.ladderLevel()))
	}
	return strings.Join(parts, "\x00")
}

func keyword(k temporal.SearchAttributeKeyKeyword, v string) temporal.SearchAttributeUpdate {
	return k.ValueSet(cases.Truncate(v, maxKeyword))
}

func keywordOrUnset(k temporal.SearchAttributeKeyKeyword, v string) temporal.SearchAttributeUpdate {
	if v == "" {
		return k.ValueUnset()
	}
	return keyword(k, v)
}
