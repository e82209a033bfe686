package notify

import (
	"fmt"
	"net/mail"

	"github.com/casebridge/casebridge/config"
	"github.com/casebridge/casebridge/sla"
)

// Target is where a notice goes.
type Target struct {
	Channel Channel
	// Address is the email address, "webhook:<name>", or "department:<code>"
	// for an outbox-only notice; the outbox files the notice under it.
	Address string
	// Webhook is the configured endpoint when Channel is ChannelWebhook.
	Webhook config.Webhook `json:"-"`
}

// Resolve finds where a notice goes. The roles resolve against the notice's
// department: the assignee when it is an email address, else the department's
// inbox (an assignee that is a queue or a user name has no address of its own);
// the team's lead, else the department's inbox; the head of service, else the
// department's inbox. A department with no email address gets the notice in
// its outbox only. An unknown department or webhook, or an address that is not
// one, is a configuration mistake: a permanent error.
func Resolve(cfg *config.Config, n Notice) (Target, error) {
	r := n.Recipient
	switch r.Kind() {
	case "email":
		if !isEmail(r.Address()) {
			return Target{}, permanent(fmt.Errorf("recipient %q: not an email address", r))
		}
		return Target{Channel: ChannelEmail, Address: r.Address()}, nil
	case "webhook":
		for _, w := range cfg.Notifications.Webhooks {
			if w.Name == r.Address() {
				return Target{Channel: ChannelWebhook, Address: string(r), Webhook: w}, nil
			}
		}
		return Target{}, permanent(fmt.Errorf("recipient %q: %w %q (notifications.webhooks)", r, ErrUnknownWebhook, r.Address()))
	}

	dept, ok := cfg.Department(n.Department)
	if !ok {
		return Target{}, permanent(fmt.Errorf("recipient %s of %s: %w %q", r, n.Ref, ErrUnknownDepartment, n.Department))
	}
	var addr, field string
	switch r {
	case sla.Assignee:
		if isEmail(n.Assignee) {
			addr = n.Assignee
		}
	case sla.TeamLead:
		addr, field = dept.TeamLeads[n.Team], "team_leads."+n.Team
	case sla.HeadOfService:
		addr, field = dept.HeadOfService, "head_of_service"
	default:
		return Target{}, permanent(fmt.Errorf("recipient %q: unknown role", r))
	}
	if addr == "" {
		addr, field = dept.Email, "email"
	}
	if addr == "" {
		return Target{Channel: ChannelOutbox, Address: "department:" + dept.Code}, nil
	}
	if !isEmail(addr) {
		return Target{}, permanent(fmt.Errorf("department %s: %s %q is not an email address", dept.Code, field, addr))
	}
	return Target{Channel: ChannelEmail, Address: addr}, nil
}

// isEmail reports whether s is a bare email address ("a@b", not "A <a@b>").
func isEmail(s string) bool {
	a, err := mail.ParseAddress(s)
	return err == nil && a.Name == "" && a.Address == s
}
