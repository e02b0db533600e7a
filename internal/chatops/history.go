package chatops

import (
	"cmp"
	"context"
	"fmt"
	"strconv"
	"strings"

	"gitlab.com/derrick-kit/derrick/internal/deploy"
	"gitlab.com/derrick-kit/derrick/internal/imageref"
)

// historyLimit is how many rollouts /history lists.
const historyLimit = 10

// versionOf is how a reply names an image: its tag and a short digest
// ("0.10.5 (sha256:ab12cd34ef56)"), the whole reference when it has no tag.
func versionOf(image string) string {
	_, tag, digest := imageref.Split(image)
	if tag == "" {
		tag = image
		digest = ""
	}
	if short := shortDigest(digest); short != "" {
		tag += " (" + short + ")"
	}
	return tag
}

// shortDigest is a sha256 digest cut to 12 hex digits
// ("sha256:ab12cd34ef56"), "" for any other.
func shortDigest(digest string) string {
	hex, ok := strings.CutPrefix(digest, "sha256:")
	if !ok {
		return ""
	}
	return "sha256:" + hex[:min(12, len(hex))]
}

// causeOf is who made rollout r, "—" when nobody is known. The Deployment
// controller copies the Deployment's kubernetes.io/change-cause to every new
// ReplicaSet, so a rollout made elsewhere (kubectl set image, a pipeline)
// without a cause of its own inherits the last one the bot wrote. A cause in
// the bot's form ("/deploy T by …", "/rollback to T by …") therefore counts
// only for a rollout of T; another tool's cause is shown as it is.
func causeOf(r deploy.Rollout) string {
	for _, prefix := range []string{causeDeploy, causeRollback} {
		rest, ok := strings.CutPrefix(r.Cause, prefix)
		if version, _, named := strings.Cut(rest, " by "); ok && named && r.Image != "" &&
			version != cmp.Or(imageTag(r.Image), r.Image) {
			return "—"
		}
	}
	return cmp.Or(r.Cause, "—")
}

func (c *Core) history(ctx context.Context, cc cmdCtx) Result {
	revs, err := c.deployer.History(ctx, historyLimit)
	if err != nil {
		return c.fail(ctx, cc, "history", err)
	}
	if len(revs) == 0 {
		return say(OutcomeOK, fmt.Sprintf(c.t.HistoryEmpty, esc(c.name)))
	}
	rows := [][]string{{"REVISION", "VERSION", "WHEN", "BY"}}
	for _, r := range revs {
		when := "—"
		if !r.When.IsZero() {
			when = r.When.UTC().Format("2006-01-02 15:04 UTC")
		}
		// An Argo CD sync of the manifests without an image override names no image.
		rows = append(rows, []string{strconv.FormatInt(r.Revision, 10), cmp.Or(versionOf(r.Image), "—"), when, causeOf(r)})
	}
	return listing(fmt.Sprintf(c.t.HistoryHeader, esc(c.name), len(revs)), table(rows), "history.txt")
}

func (c *Core) rollback(ctx context.Context, cc cmdCtx) (Result, *Change) {
	current, prev, ok, err := c.deployer.Previous(ctx)
	if err != nil {
		return c.fail(ctx, cc, "rollback", err), nil
	}
	if !ok {
		return say(OutcomeNoop, fmt.Sprintf(c.t.RollbackNone, esc(c.name), esc(versionOf(current)))), nil
	}
	to := versionOf(prev.Image)
	what := "/rollback " + esc(to)
	return Result{}, &Change{
		Summary: esc(c.name) + ": " + esc(versionOf(current)) + " → " + esc(to),
		Apply: func(ctx context.Context) Result {
			return c.setImage(ctx, cc, "rollback", prev.Image, causeRollback, what,
				fmt.Sprintf(c.t.RollbackStart, esc(c.name), esc(versionOf(current)), esc(to)))
		},
	}
}
