package cases

import (
	"strings"
	"time"
)

// Link ties a duplicate report's case to the case that holds the problem.
type Link struct {
	Ref string    `json:"ref"`
	At  time.Time `json:"at"`
	// By says who linked them: "intake" for a likely duplicate found at
	// intake, else the person who merged them.
	By string `json:"by"`
	// Confirmed is set when a supervisor confirmed a likely duplicate.
	Confirmed bool `json:"confirmed,omitempty"`
	// IntakeKey names the report a parent holds for the linked case.
	IntakeKey string `json:"intake_key,omitempty"`
}

// DuplicateLink asks a case to become a duplicate of Parent (a supervisor's
// merge), or, on a parent, records a case linked to it.
type DuplicateLink struct {
	Parent string `json:"parent,omitempty"`
	Child  string `json:"child,omitempty"`
	// Report is the child's first report, attached to the parent.
	Report *Report   `json:"report,omitempty"`
	Note   string    `json:"note,omitempty"`
	Actor  string    `json:"actor"`
	At     time.Time `json:"at,omitzero"`
}

// CheckLink validates a merge of c into parent.
func (c *Case) CheckLink(l DuplicateLink) error {
	if err := CheckLine("parent", l.Parent, MaxID); err != nil {
		return err
	}
	if l.Parent == "" {
		return &InputError{Field: "parent", Reason: "name the case this one duplicates"}
	}
	if l.Parent == c.Ref {
		return &InputError{Field: "parent", Reason: "a case cannot duplicate itself"}
	}
	if err := CheckText("note", l.Note, MaxNote); err != nil {
		return err
	}
	if c.DuplicateOf != "" {
		return &TransitionError{From: c.Status, To: StatusDuplicate, Reason: "the case is already a duplicate of " + c.DuplicateOf + "; undo that first"}
	}
	if len(c.Duplicates) > 0 {
		return &TransitionError{From: c.Status, To: StatusDuplicate, Reason: "other cases are linked to this one; merge them into its parent instead"}
	}
	return c.checkOpen("merged")
}

// LinkTo makes c a duplicate of parent at now: it closes as duplicate, and
// the citizen's public update names the parent, whose later public updates
// the read model passes on to this case's feed.
func (c *Case) LinkTo(parent, by, note string, now time.Time) {
	c.DuplicateOf, c.DuplicateLink = parent, &Link{Ref: parent, At: now, By: by}
	msg := "This looks like a problem already reported as " + parent + ". We will keep you updated as that report progresses."
	if by != "intake" {
		msg = "This is the same problem as " + parent + ". We will keep you updated as that report progresses."
	}
	if CheckTransition(c.Status, StatusDuplicate) == nil {
		c.Apply(Change{To: StatusDuplicate, Note: msg, Public: true, Actor: by}, now)
	}
	if note != "" {
		c.Append(Entry{At: now, Actor: by, Kind: KindComment, Note: note})
	}
}

// CheckConfirm validates a supervisor's confirmation of a likely duplicate.
func (c *Case) CheckConfirm() error {
	if c.DuplicateLink == nil {
		return &TransitionError{From: c.Status, To: c.Status, Reason: "the case is not linked to another"}
	}
	if c.DuplicateLink.Confirmed {
		return &TransitionError{From: c.Status, To: c.Status, Reason: "the link to " + c.DuplicateOf + " is already confirmed"}
	}
	return nil
}

// Confirm records that a supervisor confirmed the link.
func (c *Case) Confirm(actor string, now time.Time) {
	c.DuplicateLink.Confirmed = true
	c.Append(Entry{At: now, Actor: actor, Kind: KindComment, Note: "Confirmed as a duplicate of " + c.DuplicateOf})
}

// CheckUnlink validates undoing a link.
func (c *Case) CheckUnlink() error {
	if c.DuplicateLink == nil {
		return &TransitionError{From: c.Status, To: c.Status, Reason: "the case is not linked to another"}
	}
	return nil
}

// Unlink undoes the link at now and returns the parent it was linked to: the
// case is its own again, back in triage, and the citizen is told.
func (c *Case) Unlink(actor string, now time.Time) string {
	parent := c.DuplicateOf
	c.DuplicateOf, c.DuplicateLink = "", nil
	if c.Status == StatusDuplicate {
		c.Apply(Change{To: StatusForTriage, Note: "On a closer look this is a separate problem from " + parent + "; we are looking into it.", Public: true, Actor: actor}, now)
	} else {
		c.Append(Entry{At: now, Actor: actor, Kind: KindComment, Note: "No longer linked to " + parent})
	}
	return parent
}

// Attach records on a parent that child was linked to it: the child's report
// joins the parent's reports, and the timeline says so.
func (c *Case) Attach(l DuplicateLink, now time.Time) {
	for _, d := range c.Duplicates {
		if d.Ref == l.Child {
			return // told twice
		}
	}
	link := Link{Ref: l.Child, At: now, By: l.Actor}
	if l.Report != nil {
		link.IntakeKey = l.Report.IntakeKey
		c.Reports = append(c.Reports, *l.Report)
	}
	c.Duplicates = append(c.Duplicates, link)
	c.Append(Entry{At: now, Actor: l.Actor, Kind: KindReport, Note: "Report " + l.Child + " linked as a duplicate of this case"})
}

// Detach undoes Attach.
func (c *Case) Detach(child, actor string, now time.Time) {
	for i, d := range c.Duplicates {
		if d.Ref == child {
			c.Duplicates = append(c.Duplicates[:i:i], c.Duplicates[i+1:]...)
			// The report goes back with its case: merging re-points reports.
			for j, r := range c.Reports {
				if j > 0 && d.IntakeKey != "" && r.IntakeKey == d.IntakeKey {
					c.Reports = append(c.Reports[:j:j], c.Reports[j+1:]...)
					break
				}
			}
			c.Append(Entry{At: now, Actor: actor, Kind: KindComment, Note: "Report " + child + " is no longer linked to this case"})
			return
		}
	}
}

// DuplicateUpdates are the parent's public updates as each linked case's
// reporter sees them: every public update made since the case was linked,
// under the linked case's reference with an id of its own
// ("<child>-d<parent seq>"), stable forever.
func (c *Case) DuplicateUpdates() []Update {
	if len(c.Duplicates) == 0 {
		return nil
	}
	var out []Update
	public := c.PublicUpdates()
	for _, d := range c.Duplicates {
		for _, u := range public {
			if u.At.Before(d.At) {
				continue
			}
			seq := strings.TrimPrefix(u.ID, c.Ref+"-")
			out = append(out, Update{ID: d.Ref + "-d" + seq, Ref: d.Ref, Status: u.Status, At: u.At,
				Description: "Update on " + c.Ref + ", the report this one duplicates: " + u.Description})
		}
	}
	return out
}
