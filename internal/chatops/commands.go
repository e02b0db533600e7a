package chatops

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gitlab.com/derrick-kit/derrick/internal/cluster"
	"gitlab.com/derrick-kit/derrick/internal/deploy"
	"gitlab.com/derrick-kit/derrick/internal/imageref"
	"gitlab.com/derrick-kit/derrick/internal/registry"
)

// cmdCtx is one command's input as the handlers see it.
type cmdCtx struct {
	in   Input
	out  Responder
	args []string
	role Role
	// follow, when a command sets it, is work that goes on after the
	// command returned (watching a rollout); see Result.Follow.
	follow *func(context.Context)
}

type command struct {
	mutates          bool
	minArgs, maxArgs int
	// run does the work and answers; it returns the outcome and, for a
	// change, what to announce in the audit chat.
	run func(c *Core, ctx context.Context, cc cmdCtx) (outcome, announce string)
}

// order is the order of commands in /help and the command menu.
var order = []string{"showcontainers", "deploy", "set_replicas", "get_nodes", "cordon", "uncordon", "get_pods", "get_logs", "help"}

var commands map[string]command

func init() {
	commands = map[string]command{
		"start":          {maxArgs: 0, run: (*Core).help},
		"help":           {maxArgs: 0, run: (*Core).help},
		"showcontainers": {maxArgs: 0, run: (*Core).showContainers},
		"deploy":         {mutates: true, minArgs: 1, maxArgs: 1, run: (*Core).deploy},
		"set_replicas":   {mutates: true, minArgs: 1, maxArgs: 1, run: (*Core).setReplicas},
		"get_nodes":      {maxArgs: 0, run: (*Core).getNodes},
		"cordon":         {mutates: true, minArgs: 1, maxArgs: 1, run: (*Core).cordon},
		"uncordon":       {mutates: true, minArgs: 1, maxArgs: 1, run: (*Core).uncordon},
		"get_pods":       {maxArgs: 0, run: (*Core).getPods},
		"get_logs":       {minArgs: 1, maxArgs: 1, run: (*Core).getLogs},
	}
}

// MenuItem is one entry of the command menu (setMyCommands).
type MenuItem struct{ Command, Description string }

// Menu lists the commands with their descriptions in lang ("ru", "en").
func Menu(lang string) []MenuItem {
	t := languages[lang]
	if t == nil {
		t = &ru
	}
	items := make([]MenuItem, 0, len(order))
	for _, name := range order {
		items = append(items, MenuItem{Command: name, Description: t.Desc[name]})
	}
	return items
}

// Languages lists the accepted BOT_LANG values.
func Languages() []string { return []string{"ru", "en"} }

func (c *Core) help(ctx context.Context, cc cmdCtx) (string, string) {
	var b strings.Builder
	for _, name := range order {
		if commands[name].mutates && cc.role < Operator {
			continue
		}
		fmt.Fprintf(&b, "/%s — %s\n", name, esc(c.t.Desc[name]))
	}
	format := c.t.Help
	if cc.role < Operator {
		format = c.t.HelpViewer
	}
	c.reply(ctx, cc.out, fmt.Sprintf(format, esc(c.name), esc(c.ns), strings.TrimSuffix(b.String(), "\n")))
	return outcomeOK, ""
}

func (c *Core) fail(ctx context.Context, cc cmdCtx, name string, err error) string {
	if c.timedOut(ctx, cc, name, err) {
		return outcomeError
	}
	c.reply(ctx, cc.out, fmt.Sprintf(c.t.Failed, name, esc(err.Error())))
	c.log.Warn("command failed", "command", name, "user_id", cc.in.UserID, "error", err)
	return outcomeError
}

func (c *Core) showContainers(ctx context.Context, cc cmdCtx) (string, string) {
	tags, err := c.registry.Tags(ctx)
	if err != nil {
		return c.fail(ctx, cc, "showcontainers", err), ""
	}
	if len(tags) == 0 {
		c.reply(ctx, cc.out, c.t.NoTags)
		return outcomeOK, ""
	}
	current := ""
	if d, err := c.cluster.Deployment(ctx); err == nil {
		current = imageTag(d.Image)
	}
	lines := make([]string, len(tags))
	width := 0
	for _, t := range tags {
		width = max(width, len([]rune(t.Name)))
	}
	for i, t := range tags {
		line := pad(t.Name, width)
		if !t.Created.IsZero() {
			line += "  " + t.Created.UTC().Format("2006-01-02 15:04 UTC")
		}
		if t.Name == current {
			line += "  ←"
		}
		lines[i] = strings.TrimRight(line, " ")
	}
	c.replyLong(ctx, cc.out, fmt.Sprintf(c.t.TagsHeader, len(tags)), lines, true, "tags.txt")
	return outcomeOK, ""
}

// tagRE is what a registry accepts as a tag.
var tagRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)

func (c *Core) deploy(ctx context.Context, cc cmdCtx) (string, string) {
	version := cc.args[0]
	announce := "/deploy " + esc(version)
	if !tagRE.MatchString(version) {
		c.reply(ctx, cc.out, c.usage("deploy"))
		return outcomeInvalid, ""
	}
	tags, found, err := registry.Find(ctx, c.registry, version)
	if err != nil {
		return c.fail(ctx, cc, "deploy", err), ""
	}
	if !found {
		newest := make([]string, 0, 5)
		for _, t := range tags[:min(5, len(tags))] {
			newest = append(newest, "<code>"+esc(t.Name)+"</code>")
		}
		c.reply(ctx, cc.out, fmt.Sprintf(c.t.UnknownTag, esc(version), strings.Join(newest, ", ")))
		return outcomeInvalid, ""
	}
	current, _, err := c.deployer.Current(ctx)
	if c.refuseArgoManaged(ctx, cc, err) {
		return outcomeRefused, ""
	}
	if err != nil {
		return c.fail(ctx, cc, "deploy", err), ""
	}
	repo := c.cfg.RegistryImage
	if repo == "" {
		repo = imageRepo(current)
	}
	image := repo + ":" + version
	if current == image {
		c.reply(ctx, cc.out, fmt.Sprintf(c.t.DeploySame, esc(c.name), esc(version)))
		return outcomeNoop, announce
	}
	if err := c.deployer.SetImage(ctx, image); err != nil {
		return c.fail(ctx, cc, "deploy", err), announce
	}
	msgID, err := cc.out.Send(ctx, fmt.Sprintf(c.t.DeployStart, esc(version), esc(c.name)))
	if err != nil {
		c.log.Warn("reply not delivered", "error", err)
	}
	*cc.follow = func(ctx context.Context) {
		c.follow(ctx, cc, msgID, image, "/deploy "+esc(version), change{version: version})
	}
	return outcomeOK, "" // announced when the rollout ends
}

// follow edits the message msgID as the change goes on, until it is done,
// failed or BOT_ROLLOUT_TIMEOUT passed, then announces and logs the end.
func (c *Core) follow(ctx context.Context, cc cmdCtx, msgID int64, image, what string, ch change) {
	p := progress{core: c, out: cc.out, msgID: msgID}
	wctx, cancel := context.WithTimeout(ctx, c.cfg.RolloutTimeout)
	defer cancel()
	r, err := c.deployer.Wait(wctx, image, func(r deploy.Progress) { p.edit(ctx, c.progressText(ch, r, false), false) })
	// The last word must reach the chat even when the bot is stopping and
	// ctx was cancelled under the wait.
	fctx, cancelFinal := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancelFinal()
	outcome := outcomeError
	switch {
	case r.Done:
		outcome = outcomeOK
		p.edit(fctx, c.progressText(ch, r, true), true)
	case r.Failed:
		p.edit(fctx, fmt.Sprintf(c.t.ChangeFailed, what, esc(r.Message)), true)
	case errors.Is(err, context.DeadlineExceeded):
		p.edit(fctx, fmt.Sprintf(c.t.ChangeTimedOut, what, c.cfg.RolloutTimeout, c.progressText(ch, r, false)), true)
	case errors.Is(err, context.Canceled):
		p.edit(fctx, fmt.Sprintf(c.t.ChangeUnfollowed, what, c.progressText(ch, r, false)), true)
	default:
		p.edit(fctx, fmt.Sprintf(c.t.ChangeFailed, what, esc(fmt.Sprint(err))), true)
	}
	c.announce(fctx, cc.out, cc.in, what, outcome)
	c.log.Info("rollout", "user_id", cc.in.UserID, "chat_id", cc.in.ChatID, "change", what, "outcome", outcome, "progress", r)
}

// refuseArgoManaged answers and reports true when err says Argo CD manages
// the Deployment: its self-heal would silently revert a direct patch.
func (c *Core) refuseArgoManaged(ctx context.Context, cc cmdCtx, err error) bool {
	var managed *deploy.ArgoManagedError
	if !errors.As(err, &managed) {
		return false
	}
	c.reply(ctx, cc.out, fmt.Sprintf(c.t.ArgoManaged, esc(managed.Deployment), esc(managed.App), esc(managed.TrackedBy)))
	return true
}

// progress edits one message as a long command goes on, at most every
// ProgressEvery, skipping texts that did not change.
type progress struct {
	core   *Core
	out    Responder
	msgID  int64
	last   string
	lastAt time.Time
}

func (p *progress) edit(ctx context.Context, html string, final bool) {
	if html == p.last || (!final && time.Since(p.lastAt) < p.core.cfg.ProgressEvery) {
		return
	}
	var err error
	if p.msgID == 0 {
		p.msgID, err = p.out.Send(ctx, html)
	} else {
		err = p.out.Edit(ctx, p.msgID, html)
	}
	if err != nil {
		p.core.log.Warn("progress message not updated", "error", err)
		return
	}
	p.last, p.lastAt = html, time.Now()
}

func (c *Core) setReplicas(ctx context.Context, cc cmdCtx) (string, string) {
	n, err := strconv.ParseInt(cc.args[0], 10, 32)
	if err != nil || n < 0 || n > int64(c.cfg.MaxReplicas) {
		c.reply(ctx, cc.out, fmt.Sprintf(c.t.ReplicasRange, c.cfg.MaxReplicas, esc(cc.args[0])))
		return outcomeInvalid, ""
	}
	announce := "/set_replicas " + strconv.FormatInt(n, 10)
	_, prev, err := c.deployer.Current(ctx)
	if c.refuseArgoManaged(ctx, cc, err) {
		return outcomeRefused, ""
	}
	if err != nil {
		return c.fail(ctx, cc, "set_replicas", err), ""
	}
	if prev == int32(n) {
		c.reply(ctx, cc.out, fmt.Sprintf(c.t.ReplicasSame, esc(c.name), n))
		return outcomeNoop, announce
	}
	if err := c.deployer.SetReplicas(ctx, int32(n)); err != nil {
		return c.fail(ctx, cc, "set_replicas", err), announce
	}
	set := fmt.Sprintf(c.t.ReplicasSet, esc(c.name), prev, n)
	msgID, err := cc.out.Send(ctx, set)
	if err != nil {
		c.log.Warn("reply not delivered", "error", err)
	}
	*cc.follow = func(ctx context.Context) {
		c.follow(ctx, cc, msgID, "", announce, change{set: set})
	}
	return outcomeOK, ""
}

func (c *Core) getNodes(ctx context.Context, cc cmdCtx) (string, string) {
	nodes, err := c.cluster.Nodes(ctx)
	if err != nil {
		return c.fail(ctx, cc, "get_nodes", err), ""
	}
	rows := make([][]string, 0, len(nodes)+1)
	rows = append(rows, []string{"NAME", "ADDRESS", "PODS"})
	for _, n := range nodes {
		ip := n.ExternalIP
		switch {
		case ip != "":
		case n.InternalIP != "":
			ip = fmt.Sprintf(c.t.NodeInternal, n.InternalIP)
		default:
			ip = "—"
		}
		can := c.t.NodeYes
		if !n.Schedulable {
			reasons := make([]string, len(n.Reasons))
			for i, r := range n.Reasons {
				reasons[i] = c.t.reason(r)
			}
			can = c.t.NodeNo + " (" + strings.Join(reasons, ", ") + ")"
		}
		rows = append(rows, []string{n.Name, ip, can})
	}
	c.replyLong(ctx, cc.out, fmt.Sprintf(c.t.NodesHeader, len(nodes)), table(rows), true, "nodes.txt")
	return outcomeOK, ""
}

// nodeNameRE is a DNS subdomain, what Kubernetes accepts as a node name.
var nodeNameRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)

func (c *Core) cordon(ctx context.Context, cc cmdCtx) (string, string) {
	return c.setSchedulable(ctx, cc, "cordon", false, c.t.Cordoned, c.t.AlreadyCordoned)
}

func (c *Core) uncordon(ctx context.Context, cc cmdCtx) (string, string) {
	return c.setSchedulable(ctx, cc, "uncordon", true, c.t.Uncordoned, c.t.AlreadyUncordoned)
}

func (c *Core) setSchedulable(ctx context.Context, cc cmdCtx, name string, schedulable bool, done, already string) (string, string) {
	node := cc.args[0]
	if len(node) > 253 || !nodeNameRE.MatchString(node) {
		c.reply(ctx, cc.out, fmt.Sprintf(c.t.NodeNotFound, esc(node)))
		return outcomeInvalid, ""
	}
	announce := "/" + name + " " + esc(node)
	changed, err := c.cluster.SetSchedulable(ctx, node, schedulable)
	switch {
	case errors.Is(err, cluster.ErrNodeNotFound):
		c.reply(ctx, cc.out, fmt.Sprintf(c.t.NodeNotFound, esc(node)))
		return outcomeInvalid, ""
	case err != nil:
		return c.fail(ctx, cc, name, err), announce
	case !changed:
		c.reply(ctx, cc.out, fmt.Sprintf(already, esc(node)))
		return outcomeNoop, announce
	}
	c.reply(ctx, cc.out, fmt.Sprintf(done, esc(node)))
	return outcomeOK, announce
}

func (c *Core) getPods(ctx context.Context, cc cmdCtx) (string, string) {
	pods, err := c.cluster.Pods(ctx)
	if err != nil {
		return c.fail(ctx, cc, "get_pods", err), ""
	}
	if len(pods) == 0 {
		c.reply(ctx, cc.out, fmt.Sprintf(c.t.NoPods, esc(c.name)))
		return outcomeOK, ""
	}
	rows := [][]string{{"NAME", "STATUS", "READY", "RESTARTS"}}
	for _, p := range pods {
		rows = append(rows, []string{p.Name, p.Status, fmt.Sprintf("%d/%d", p.Ready, p.Containers), strconv.Itoa(int(p.Restarts))})
	}
	c.replyLong(ctx, cc.out, fmt.Sprintf(c.t.PodsHeader, esc(c.name), len(pods)), table(rows), true, "pods.txt")
	return outcomeOK, ""
}

func (c *Core) getLogs(ctx context.Context, cc cmdCtx) (string, string) {
	pod := cc.args[0]
	if len(pod) > 253 || !nodeNameRE.MatchString(pod) {
		c.reply(ctx, cc.out, fmt.Sprintf(c.t.PodNotFound, esc(pod), esc(c.name)))
		return outcomeInvalid, ""
	}
	lines, err := c.cluster.Logs(ctx, pod, c.cfg.LogLines)
	switch {
	case errors.Is(err, cluster.ErrPodNotInDeployment):
		c.reply(ctx, cc.out, fmt.Sprintf(c.t.PodNotFound, esc(pod), esc(c.name)))
		return outcomeInvalid, ""
	case err != nil:
		return c.fail(ctx, cc, "get_logs", err), ""
	case len(lines) == 0:
		c.reply(ctx, cc.out, fmt.Sprintf(c.t.NoLogs, esc(pod)))
		return outcomeOK, ""
	}
	c.replyLong(ctx, cc.out, fmt.Sprintf(c.t.LogsHeader, len(lines), esc(pod)), lines, true, pod+".log")
	return outcomeOK, ""
}

// table aligns rows into columns separated by two spaces.
func table(rows [][]string) []string {
	var widths []int
	for _, r := range rows {
		for i, cell := range r {
			if i >= len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], len([]rune(cell)))
		}
	}
	lines := make([]string, len(rows))
	for j, r := range rows {
		var b strings.Builder
		for i, cell := range r {
			if i < len(r)-1 {
				b.WriteString(pad(cell, widths[i]) + "  ")
			} else {
				b.WriteString(cell)
			}
		}
		lines[j] = b.String()
	}
	return lines
}

func pad(s string, width int) string {
	return s + strings.Repeat(" ", max(0, width-len([]rune(s))))
}

// imageRepo strips the tag and digest from an image reference.
func imageRepo(image string) string {
	name, _, _ := imageref.Split(image)
	return name
}

// imageTag is the tag of an image reference, "" when it has none.
func imageTag(image string) string {
	_, tag, _ := imageref.Split(image)
	return tag
}
