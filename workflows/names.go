// Package workflows holds casebridge's deterministic Temporal workflow code: one
// long-lived workflow per case that carries it from intake to its final close.
package workflows

import (
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
)

// Names shared by the workflow, the worker that runs it and the clients that talk
// to it. Changing one breaks running cases.
const (
	TaskQueue    = "casebridge"
	WorkflowName = "CaseWorkflow"

	UpdateTransition   = "transition"
	UpdateComment      = "comment"
	UpdateCitizen      = "citizen-update"
	UpdateAssign       = "assign"
	UpdateTransfer     = "transfer"
	UpdateRecategorise = "recategorise"
	UpdateAcknowledge  = "acknowledge"
	UpdatePrioritise   = "prioritise"
	QueryState         = "state"

	// HandoffWorkflowName is the child workflow that hands a case to a partner
	// agency and waits for its answer (ID "handoff-<ref>-<n>"). It takes the
	// partner's callbacks as UpdateCallback and tells the case each event
	// through SignalPartner.
	HandoffWorkflowName = "PartnerHandoffWorkflow"
	UpdateCallback      = "partner-callback"
	SignalPartner       = "partner-event"

	// Duplicates: a supervisor merges a case into another (UpdateMerge),
	// confirms a likely duplicate found at intake (UpdateConfirmDuplicate) or
	// undoes a link (UpdateUnlink); the linked case tells its parent through
	// SignalDuplicate.
	UpdateMerge            = "merge"
	UpdateConfirmDuplicate = "confirm-duplicate"
	UpdateUnlink           = "unlink-duplicate"
	SignalDuplicate        = "duplicate-link"

	// MemoIntakeKey holds the report's intake key, so intake can tell a retried
	// submission from a reference collision.
	MemoIntakeKey = "intake_key"
)

// Typed search attributes kept current by the workflow, for supervisors' lists in
// Temporal and for engineers in the Temporal UI.
var (
	SAStatus          = temporal.NewSearchAttributeKeyKeyword("CaseStatus")
	SADepartment      = temporal.NewSearchAttributeKeyKeyword("Department")
	SATeam            = temporal.NewSearchAttributeKeyKeyword("Team")
	SAServiceCode     = temporal.NewSearchAttributeKeyKeyword("ServiceCode")
	SAPriority        = temporal.NewSearchAttributeKeyKeyword("Priority")
	SASource          = temporal.NewSearchAttributeKeyKeyword("Source")
	SARoutingRule     = temporal.NewSearchAttributeKeyKeyword("RoutingRule")
	SAAssignee        = temporal.NewSearchAttributeKeyKeyword("Assignee")
	SAReceivedAt      = temporal.NewSearchAttributeKeyTime("CaseReceivedAt")
	SADueAt           = temporal.NewSearchAttributeKeyTime("CaseDueAt")
	SAOverdue         = temporal.NewSearchAttributeKeyBool("Overdue")
	SAEscalationLevel = temporal.NewSearchAttributeKeyInt64("EscalationLevel")
)

// SearchAttributes lists the custom search attributes a namespace must register
// before cases can start (devserver does it; production operators run
// `temporal operator search-attribute create` as README.md shows).
var SearchAttributes = map[string]enumspb.IndexedValueType{
	SAStatus.GetName():          enumspb.INDEXED_VALUE_TYPE_KEYWORD,
	SADepartment.GetName():      enumspb.INDEXED_VALUE_TYPE_KEYWORD,
	SATeam.GetName():            enumspb.INDEXED_VALUE_TYPE_KEYWORD,
	SAServiceCode.GetName():     enumspb.INDEXED_VALUE_TYPE_KEYWORD,
	SAPriority.GetName():        enumspb.INDEXED_VALUE_TYPE_KEYWORD,
	SASource.GetName():          enumspb.INDEXED_VALUE_TYPE_KEYWORD,
	SARoutingRule.GetName():     enumspb.INDEXED_VALUE_TYPE_KEYWORD,
	SAAssignee.GetName():        enumspb.INDEXED_VALUE_TYPE_KEYWORD,
	SAReceivedAt.GetName():      enumspb.INDEXED_VALUE_TYPE_DATETIME,
	SADueAt.GetName():           enumspb.INDEXED_VALUE_TYPE_DATETIME,
	SAOverdue.GetName():         enumspb.INDEXED_VALUE_TYPE_BOOL,
	SAEscalationLevel.GetName(): enumspb.INDEXED_VALUE_TYPE_INT,
}
