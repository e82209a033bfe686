package api

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/casebridge/casebridge/rules"
)

// rulesDefault is the rule set /rules opens: the one routing uses.
const rulesDefault = rules.Routing

type versionRow struct {
	rules.Version
	Active bool
}

type historyRow struct {
	At      time.Time
	What    string
	Comment string
}

type rulesData struct {
	Name     string
	Names    []string
	Active   *rules.Version
	Draft    *rules.Draft
	Versions []versionRow // newest first
	History  []historyRow // newest first
	Text     string       // in the editor
	Comment  string
	Problems rules.Problems
	Field    string
	Message  string
	Valid    string
	Rollback formState
}

// rulesForm is what the editor or a rollback form sent, to show again with
// what was wrong with it.
type rulesForm struct {
	text     *string // nil: the editor shows the draft, or the active version
	comment  string
	problems rules.Problems
	field    string
	message  string
	valid    string
	rollback formState
}

func (con *console) rulesPage(c *gin.Context) { con.showRules(c, http.StatusOK, rulesForm{}) }

// showRules draws a rule set's page: its draft in an editor, its active
// version, every version (to roll back to) and who activated which when.
func (con *console) showRules(c *gin.Context, status int, sent rulesForm) {
	ctx, name := c.Request.Context(), c.Param("name")
	names, err := con.deps.Rules.Names(ctx)
	if err != nil {
		con.rulesUnavailable(c, err)
		return
	}
	if !slices.Contains(names, name) {
		if name != rulesDefault { // routing can be written from nothing
			con.errorPage(c, http.StatusNotFound, "No such rule set", fmt.Sprintf("There is no rule set called %q.", name), "/rules", "Routing rules")
			return
		}
		names = append(names, name)
	}
	d := rulesData{Name: name, Names: names, Comment: sent.comment, Problems: sent.problems, Field: sent.field,
		Message: sent.message, Valid: sent.valid, Rollback: sent.rollback}
	if v, err := con.deps.Rules.Active(ctx, name); err == nil {
		d.Active = &v
	} else if !errors.Is(err, rules.ErrNotFound) {
		con.rulesUnavailable(c, err)
		return
	}
	if dr, err := con.deps.Rules.Draft(ctx, name); err == nil {
		d.Draft = &dr
	} else if !errors.Is(err, rules.ErrNotFound) {
		con.rulesUnavailable(c, err)
		return
	}
	versions, err := con.deps.Rules.Versions(ctx, name)
	if err != nil && !errors.Is(err, rules.ErrNotFound) {
		con.rulesUnavailable(c, err)
		return
	}
	for i := len(versions) - 1; i >= 0; i-- {
		d.Versions = append(d.Versions, versionRow{Version: versions[i], Active: d.Active != nil && versions[i].Number == d.Active.Number})
	}
	history, err := con.deps.Rules.History(ctx, name)
	if err != nil && !errors.Is(err, rules.ErrNotFound) {
		con.rulesUnavailable(c, err)
		return
	}
	for i := len(history) - 1; i >= 0; i-- {
		d.History = append(d.History, activationRow(history[i]))
	}
	switch {
	case sent.text != nil:
		d.Text = *sent.text
	case d.Draft != nil:
		d.Text = d.Draft.YAML
	case d.Active != nil:
		d.Text = d.Active.YAML
	}
	v := view{Nav: "rules", Data: d}
	if sent.text == nil && sent.rollback.Name == "" {
		v.Flash = rulesDone(c.Query("done"), c.Query("version"))
	}
	con.render(c, status, "rules", v)
}

func activationRow(a rules.Activation) historyRow {
	what := map[string]string{rules.ActionSeed: "first saved", rules.ActionPublish: "published", rules.ActionRollback: "made active again"}[a.Action]
	return historyRow{At: a.At, Comment: a.Comment,
		What: fmt.Sprintf("version %d %s by %s", a.Version, cmp.Or(what, a.Action), a.Author)}
}

func rulesDone(done, version string) string {
	switch done {
	case "saved":
		return "The draft was saved. Publish it when it is ready."
	case "published":
		return "Version " + version + " was published: every casebridge process routes new cases by it within a second."
	case "rolledback":
		return "Version " + version + " is active again."
	case "discarded":
		return "The draft was discarded."
	}
	return ""
}

func (con *console) rulesUnavailable(c *gin.Context, err error) {
	con.log.Error("console: rules", "error", err)
	con.errorPage(c, http.StatusServiceUnavailable, "The rule sets are not available", "The rule store did not answer. Try again in a moment.")
}

// editRules serves the editor's buttons: check the text, save it as the
// draft, publish it (saving it first), or discard the draft.
func (con *console) editRules(c *gin.Context) {
	ctx, name, author := c.Request.Context(), c.Param("name"), who(c).Name
	f := c.Request.PostForm
	// Browsers send a textarea's lines ending in CRLF; the store keeps what
	// an editor would write.
	text := strings.ReplaceAll(f.Get("yaml"), "\r\n", "\n")
	sent := rulesForm{text: &text, comment: f.Get("comment")}
	again := func(status int, field, message string) {
		sent.field, sent.message = field, message
		con.showRules(c, status, sent)
	}
	switch f.Get("action") {
	case "validate":
		if ps := con.checkRuleSet(name, []byte(text)); len(ps) > 0 {
			sent.problems = ps
			con.showRules(c, http.StatusUnprocessableEntity, sent)
			return
		}
		sent.valid = "No mistakes found. Save it as the draft, or publish it."
		con.showRules(c, http.StatusOK, sent)
	case "save":
		if con.saveDraft(c, name, text, author, &sent) {
			c.Redirect(http.StatusSeeOther, "/rules/"+name+"?done=saved")
		}
	case "publish":
		comment := strings.TrimSpace(sent.comment)
		switch {
		case comment == "":
			again(http.StatusUnprocessableEntity, "comment", "Say why you are publishing it, for the history: for example, graffiti goes to highways from Monday.")
			return
		case len(comment) > maxComment:
			again(http.StatusUnprocessableEntity, "comment", fmt.Sprintf("The reason is longer than %d characters.", maxComment))
			return
		}
		if active, err := con.deps.Rules.Active(ctx, name); err == nil && active.YAML == text {
			again(http.StatusConflict, "", fmt.Sprintf("This text is version %d, which is active already: there is nothing to publish.", active.Number))
			return
		}
		if !con.saveDraft(c, name, text, author, &sent) {
			return
		}
		v, err := con.deps.Rules.Publish(ctx, name, author, comment)
		if err != nil && v.Number == 0 {
			status, msg := con.rulesStoreProblem(err)
			again(status, "", msg)
			return
		}
		if err != nil {
			con.log.Warn("rule set published, but not everything followed", "rule_set", name, "version", v.Number, "error", err)
		}
		c.Redirect(http.StatusSeeOther, fmt.Sprintf("/rules/%s?done=published&version=%d", name, v.Number))
	case "discard":
		if err := con.deps.Rules.DiscardDraft(ctx, name); err != nil && !errors.Is(err, rules.ErrNotFound) {
			status, msg := con.rulesStoreProblem(err)
			again(status, "", msg)
			return
		}
		c.Redirect(http.StatusSeeOther, "/rules/"+name+"?done=discarded")
	default:
		again(http.StatusUnprocessableEntity, "", "Choose what to do with the text: check it, save it or publish it.")
	}
}

// saveDraft saves text as the draft, or shows the page again with every
// mistake in it.
func (con *console) saveDraft(c *gin.Context, name, text, author string, sent *rulesForm) bool {
	_, err := con.deps.Rules.SaveDraft(c.Request.Context(), name, []byte(text), author)
	var ps rules.Problems
	switch {
	case errors.As(err, &ps):
		// Validate's list is the fuller one: it also reads past a broken YAML shape.
		if all := con.checkRuleSet(name, []byte(text)); len(all) > 0 {
			ps = all
		}
		sent.problems = ps
		con.showRules(c, http.StatusUnprocessableEntity, *sent)
		return false
	case err != nil:
		status, msg := con.rulesStoreProblem(err)
		sent.message = msg
		con.showRules(c, status, *sent)
		return false
	}
	return true
}

// rulesStoreProblem is how a rule store error reads on the page.
func (con *console) rulesStoreProblem(err error) (int, string) {
	switch {
	case errors.Is(err, rules.ErrNotFound):
		return http.StatusConflict, upperFirst(notFound(err)) + "."
	case errors.Is(err, rules.ErrAlreadyActive):
		return http.StatusConflict, upperFirst(err.Error()) + "."
	}
	con.log.Error("console: rule store", "error", err)
	return http.StatusServiceUnavailable, "The rule store did not answer, so nothing was changed. Try again in a moment."
}

// rollbackRules makes an earlier version active again.
func (con *console) rollbackRules(c *gin.Context) {
	name := c.Param("name")
	f := c.Request.PostForm
	sent := rulesForm{rollback: formState{Name: "rollback", Values: f}}
	again := func(status int, message string) {
		sent.rollback.Message = message
		con.showRules(c, status, sent)
	}
	n, err := strconv.Atoi(f.Get("version"))
	if err != nil || n < 1 {
		again(http.StatusUnprocessableEntity, "Choose the version to make active again.")
		return
	}
	comment := strings.TrimSpace(f.Get("comment"))
	switch {
	case comment == "":
		again(http.StatusUnprocessableEntity, fmt.Sprintf("Say why you are making version %d active again, for the history.", n))
		return
	case len(comment) > maxComment:
		again(http.StatusUnprocessableEntity, fmt.Sprintf("The reason is longer than %d characters.", maxComment))
		return
	}
	v, err := con.deps.Rules.Rollback(c.Request.Context(), name, n, who(c).Name, comment)
	var ps rules.Problems
	switch {
	case errors.As(err, &ps) && v.Number == 0:
		sent.problems = ps
		again(http.StatusUnprocessableEntity, fmt.Sprintf("Version %d has mistakes against today's configuration, so it cannot be made active.", n))
		return
	case err != nil && v.Number == 0:
		status, msg := con.rulesStoreProblem(err)
		again(status, msg)
		return
	case err != nil:
		con.log.Warn("rule set rolled back, but not everything followed", "rule_set", name, "version", v.Number, "error", err)
	}
	c.Redirect(http.StatusSeeOther, fmt.Sprintf("/rules/%s?done=rolledback&version=%d", name, v.Number))
}

// upperFirst starts a sentence with a capital.
func upperFirst(s string) string {
	if s == "" {
		return s
	}
	r, n := utf8.DecodeRuneInString(s)
	return string(unicode.ToUpper(r)) + s[n:]
}
