package chatops

import (
	"cmp"
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
	args []string
	role Role
}

type command struct {
	minArgs, maxArgs int
	// run does the work of a command that changes nothing and returns the
	// answer.
	run func(c *Core, ctx context.Context, cc cmdCtx) Result
	// plan, set for the commands that change the application or the
	// cluster (operators only), decides what the command would change; see
	// Change.
	plan func(c *Core, ctx context.Context, cc cmdCtx) (Result, *Change)
}

// mutates reports whether the command changes anything.
func (cmd command) mutates() bool { return cmd.plan != nil }

// order is the order of commands in /help and the command menu.
var order = []string{"showcontainers", "deploy", "rollback", "history", "set_replicas", "get_nodes", "cordon", "uncordon", "get_pods", "get_logs", "help"}

var commands map[string]command

func init() {
	commands = map[string]command{
		"start":          {maxArgs: 0, run: (*Core).help},
		"help":           {maxArgs: 0, run: (*Core).help},
		"showcontainers": {maxArgs: 0, run: (*Core).showContainers},
		"deploy":         {minArgs: 1, maxArgs: 1, plan: (*Core).deploy},
		"set_replicas":   {minArgs: 1, maxArgs: 1, plan: (*Core).setReplicas},
		"rollback":       {maxArgs: 0, plan: (*Core).rollback},
		"history":        {maxArgs: 0, run: (*Core).history},
		"get_nodes":      {maxArgs: 0, run: (*Core).getNodes},
		"cordon":         {minArgs: 1, maxArgs: 1, plan: (*Core).cordon},
		"uncordon":       {minArgs: 1, maxArgs: 1, plan: (*Core).uncordon},
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

func (c *Core) help(_ context.Context, cc cmdCtx) Result {
	var b strings.Builder
	for _, name := range order {
		if commands[name].mutates() && cc.role < Operator {
			continue
		}
		fmt.Fprintf(&b, "/%s — %s\n", name, esc(c.t.Desc[name]))
	}
	format := c.t.Help
	if cc.role < Operator {
		format = c.t.HelpViewer
	}
	return say(OutcomeOK, fmt.Sprintf(format, esc(c.name), esc(c.ns), strings.TrimSuffix(b.String(), "\n")))
}

// listing is a long answer: header, then lines in a <pre> block, or a text
// document named file when they would take too many messages.
func listing(header string, lines []string, file string) Result {
	return Result{Outcome: OutcomeOK, Reply: Reply{HTML: header, Lines: lines, Pre: true, File: file}}
}

func (c *Core) showContainers(ctx context.Context, cc cmdCtx) Result {
	tags, err := c.registry.Tags(ctx)
	if err != nil {
		return c.fail(ctx, cc, "showcontainers", err)
	}
	if len(tags) == 0 {
		return say(OutcomeOK, c.t.NoTags)
	}
	header := fmt.Sprintf(c.t.TagsHeader, len(tags))
	running := func(registry.Tag) bool { return false }
	if d, err := c.cluster.Deployment(ctx); err == nil {
		var moved string
		running, moved = c.runningTag(ctx, d.Image)
		if moved != "" {
			header += "\n" + moved
		}
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
		if running(t) {
			line += "  ←"
		}
		lines[i] = strings.TrimRight(line, " ")
	}
	return listing(header, lines, "tags.txt")
}

// runningTag says which tags of a listing name the image the Deployment
// runs: those whose digest is the running digest, the running tag's
// looked up afresh (a listing may be older than the last push), or, for an
// image without a digest, the running tag. moved is the note, when the
// running tag points to another digest by now.
func (c *Core) runningTag(ctx context.Context, image string) (running func(registry.Tag) bool, moved string) {
	_, tag, digest := imageref.Split(image)
	if digest == "" {
		return func(t registry.Tag) bool { return tag != "" && t.Name == tag }, ""
	}
	fresh := ""
	if tag != "" {
		got, err := c.registry.Resolve(ctx, tag)
		switch {
		case err == nil:
			fresh = got.Digest
		case !errors.Is(err, registry.ErrTagNotFound):
			c.log.Warn("running tag not looked up; marking by the listing", "tag", tag, "error", err)
		}
	}
	if fresh != "" && fresh != digest {
		moved = fmt.Sprintf(c.t.TagMoved, esc(tag), esc(shortDigest(fresh)), esc(shortDigest(digest)))
	}
	return func(t registry.Tag) bool {
		if t.Name == tag && fresh != "" {
			return fresh == digest
		}
		return t.Digest == digest
	}, moved
}

// tagRE is what a registry accepts as a tag.
var tagRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)

// deploy pins the tag's digest as the registry has it now: a branch tag
// moves with every push, and a tag already in the spec rolls nothing out.
func (c *Core) deploy(ctx context.Context, cc cmdCtx) (Result, *Change) {
	version := cc.args[0]
	if !tagRE.MatchString(version) {
		return say(OutcomeInvalid, c.usage("deploy")), nil
	}
	tag, err := c.registry.Resolve(ctx, version)
	if errors.Is(err, registry.ErrTagNotFound) {
		return c.unknownTag(ctx, cc, version), nil
	}
	if err != nil {
		return c.fail(ctx, cc, "deploy", err), nil
	}
	current, replicas, err := c.deployer.Current(ctx)
	if res, refused := c.refuseArgoManaged(err); refused {
		return res, nil
	}
	if err != nil {
		return c.fail(ctx, cc, "deploy", err), nil
	}
	repo := c.cfg.RegistryImage
	if repo == "" {
		repo = imageRepo(current)
	}
	image := repo + ":" + version
	if tag.Digest != "" {
		image += "@" + tag.Digest
	}
	shown := esc(versionOf(image))
	announce := "/deploy " + shown
	if current == image {
		return c.announced(cc.in, announce, say(OutcomeNoop, fmt.Sprintf(c.t.DeploySame, esc(c.name), shown))), nil
	}
	return Result{}, &Change{
		Summary: esc(c.name) + ": " + esc(versionOf(current)) + " → " + shown + ", " + esc(c.t.Pods(replicas)),
		Apply: func(ctx context.Context) Result {
			return c.setImage(ctx, cc, "deploy", image, causeDeploy, announce, fmt.Sprintf(c.t.DeployStart, shown, esc(c.name)))
		},
	}
}

// Change-causes the bot writes, "<verb><tag> by <user>": causeOf reads
// them back.
const (
	causeDeploy   = "/deploy "
	causeRollback = "/rollback to "
)

// setImage is the Apply of /deploy and /rollback: it sets image with the
// change-cause verb + its tag + " by " + the user, answers start, and
// follows the rollout, announced as what when it ends.
func (c *Core) setImage(ctx context.Context, cc cmdCtx, name, image, verb, what, start string) Result {
	if err := c.deployer.SetImage(ctx, image, verb+cmp.Or(imageTag(image), image)+" by "+displayName(cc.in)); err != nil {
		return c.announced(cc.in, what, c.fail(ctx, cc, name, err))
	}
	res := say(OutcomeOK, start)
	res.Follow = func(ctx context.Context, msg Message) Announcement {
		return c.follow(ctx, cc, msg, image, what, change{version: versionOf(image)})
	}
	return res
}

// unknownTag answers a /deploy of a tag the registry does not have with
// the newest tags it has.
func (c *Core) unknownTag(ctx context.Context, cc cmdCtx, version string) Result {
	tags, err := c.registry.Tags(ctx)
	if err != nil {
		return c.fail(ctx, cc, "deploy", err)
	}
	newest := make([]string, 0, 5)
	for _, t := range tags[:min(5, len(tags))] {
		newest = append(newest, "<code>"+esc(t.Name)+"</code>")
	}
	return say(OutcomeInvalid, fmt.Sprintf(c.t.UnknownTag, esc(version), strings.Join(newest, ", ")))
}

// follow edits the message msg as the change goes on, until it is done,
// failed or BOT_ROLLOUT_TIMEOUT passed, then logs the end and returns its
// announcement.
func (c *Core) follow(ctx context.Context, cc cmdCtx, msg Message, image, what string, ch change) Announcement {
	p := progress{core: c, msg: msg}
	wctx, cancel := context.WithTimeout(ctx, c.cfg.RolloutTimeout)
	defer cancel()
	r, err := c.deployer.Wait(wctx, image, func(r deploy.Progress) { p.edit(ctx, c.progressText(ch, r, false), false) })
	// The last word must reach the chat even when the bot is stopping and
	// ctx was cancelled under the wait.
	fctx, cancelFinal := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancelFinal()
	outcome := OutcomeError
	switch {
	case r.Done:
		outcome = OutcomeOK
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
	c.log.Info("rollout", "user_id", cc.in.UserID, "chat_id", cc.in.ChatID, "change", what, "outcome", outcome, "progress", r)
	return c.announcement(cc.in, what, outcome)
}

// refuseArgoManaged refuses, reporting true, when err says Argo CD manages
// the Deployment: its self-heal would silently revert a direct patch.
func (c *Core) refuseArgoManaged(err error) (Result, bool) {
	var managed *deploy.ArgoManagedError
	if !errors.As(err, &managed) {
		return Result{}, false
	}
	return say(OutcomeRefused, fmt.Sprintf(c.t.ArgoManaged, esc(managed.Deployment), esc(managed.App), esc(managed.TrackedBy))), true
}

// progress edits one message as a long command goes on, at most every
// ProgressEvery, skipping texts that did not change.
type progress struct {
	core   *Core
	msg    Message
	last   string
	lastAt time.Time
}

func (p *progress) edit(ctx context.Context, html string, final bool) {
	if html == p.last || (!final && time.Since(p.lastAt) < p.core.cfg.ProgressEvery) {
		return
	}
	if err := p.msg.Edit(ctx, html); err != nil {
		p.core.log.Warn("progress message not updated", "error", err)
		return
	}
	p.last, p.lastAt = html, time.Now()
}

func (c *Core) setReplicas(ctx context.Context, cc cmdCtx) (Result, *Change) {
	n, err := strconv.ParseInt(cc.args[0], 10, 32)
	if err != nil || n < 0 || n > int64(c.cfg.MaxReplicas) {
		return say(OutcomeInvalid, fmt.Sprintf(c.t.ReplicasRange, c.cfg.MaxReplicas, esc(cc.args[0]))), nil
	}
	announce := "/set_replicas " + strconv.FormatInt(n, 10)
	_, prev, err := c.deployer.Current(ctx)
	if res, refused := c.refuseArgoManaged(err); refused {
		return res, nil
	}
	if err != nil {
		return c.fail(ctx, cc, "set_replicas", err), nil
	}
	if prev == int32(n) {
		return c.announced(cc.in, announce, say(OutcomeNoop, fmt.Sprintf(c.t.ReplicasSame, esc(c.name), n))), nil
	}
	set := fmt.Sprintf(c.t.ReplicasSet, esc(c.name), prev, n)
	return Result{}, &Change{Summary: set, Apply: func(ctx context.Context) Result {
		if err := c.deployer.SetReplicas(ctx, int32(n)); err != nil {
			return c.announced(cc.in, announce, c.fail(ctx, cc, "set_replicas", err))
		}
		res := say(OutcomeOK, set)
		res.Follow = func(ctx context.Context, msg Message) Announcement {
			return c.follow(ctx, cc, msg, "", announce, change{set: set})
		}
		return res
	}}
}

func (c *Core) getNodes(ctx context.Context, cc cmdCtx) Result {
	nodes, err := c.cluster.Nodes(ctx)
	if err != nil {
		return c.fail(ctx, cc, "get_nodes", err)
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
	return listing(fmt.Sprintf(c.t.NodesHeader, len(nodes)), table(rows), "nodes.txt")
}

// dnsSubdomainRE is a DNS subdomain (RFC 1123), what Kubernetes accepts as
// a node's or a pod's name; with the 253-character bound, names that cannot
// exist never reach the cluster.
var dnsSubdomainRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)

func (c *Core) cordon(ctx context.Context, cc cmdCtx) (Result, *Change) {
	return c.setSchedulable(cc, "cordon", false, c.t.Cordoned, c.t.AlreadyCordoned)
}

func (c *Core) uncordon(ctx context.Context, cc cmdCtx) (Result, *Change) {
	return c.setSchedulable(cc, "uncordon", true, c.t.Uncordoned, c.t.AlreadyUncordoned)
}

func (c *Core) setSchedulable(cc cmdCtx, name string, schedulable bool, done, already string) (Result, *Change) {
	node := cc.args[0]
	if len(node) > 253 || !dnsSubdomainRE.MatchString(node) {
		return say(OutcomeInvalid, fmt.Sprintf(c.t.NodeNotFound, esc(node))), nil
	}
	announce := "/" + name + " " + esc(node)
	return Result{}, &Change{Summary: announce, Apply: func(ctx context.Context) Result {
		changed, err := c.cluster.SetSchedulable(ctx, node, schedulable)
		switch {
		case errors.Is(err, cluster.ErrNodeNotFound):
			return say(OutcomeInvalid, fmt.Sprintf(c.t.NodeNotFound, esc(node)))
		case err != nil:
			return c.announced(cc.in, announce, c.fail(ctx, cc, name, err))
		case !changed:
			return c.announced(cc.in, announce, say(OutcomeNoop, fmt.Sprintf(already, esc(node))))
		}
		return c.announced(cc.in, announce, say(OutcomeOK, fmt.Sprintf(done, esc(node))))
	}}
}

func (c *Core) getPods(ctx context.Context, cc cmdCtx) Result {
	pods, err := c.cluster.Pods(ctx)
	if err != nil {
		return c.fail(ctx, cc, "get_pods", err)
	}
	if len(pods) == 0 {
		return say(OutcomeOK, fmt.Sprintf(c.t.NoPods, esc(c.name)))
	}
	rows := [][]string{{"NAME", "STATUS", "READY", "RESTARTS"}}
	for _, p := range pods {
		rows = append(rows, []string{p.Name, p.Status, fmt.Sprintf("%d/%d", p.Ready, p.Containers), strconv.Itoa(int(p.Restarts))})
	}
	return listing(fmt.Sprintf(c.t.PodsHeader, esc(c.name), len(pods)), table(rows), "pods.txt")
}

func (c *Core) getLogs(ctx context.Context, cc cmdCtx) Result {
	pod := cc.args[0]
	if len(pod) > 253 || !dnsSubdomainRE.MatchString(pod) {
		return say(OutcomeInvalid, fmt.Sprintf(c.t.PodNotFound, esc(pod), esc(c.name)))
	}
	lines, err := c.cluster.Logs(ctx, pod, c.cfg.LogLines)
	switch {
	case errors.Is(err, cluster.ErrPodNotInDeployment):
		return say(OutcomeInvalid, fmt.Sprintf(c.t.PodNotFound, esc(pod), esc(c.name)))
	case err != nil:
		return c.fail(ctx, cc, "get_logs", err)
	case len(lines) == 0:
		return say(OutcomeOK, fmt.Sprintf(c.t.NoLogs, esc(pod)))
	}
	return listing(fmt.Sprintf(c.t.LogsHeader, len(lines), esc(pod)), lines, pod+".log")
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
