package argocd

import (
	"context"
	"slices"
)

// History reads the application and returns the application image it runs
// now and its status.history, newest first, each entry's Image filled in.
// repository is the image's repository without tag (REGISTRY_IMAGE, e.g.
// registry.example.com/oil/app): the kustomize override of that image, or
// for a Helm source the parameters HelmImageRepository and HelmImageTag,
// name it. current comes from the spec's overrides, else from the live
// images (status.summary.images); "" when neither names it.
func (c *Client) History(ctx context.Context, repository string) (current string, history []Deployed, err error) {
	a, err := c.Application(ctx)
	if err != nil {
		return "", nil, err
	}
	if err := c.singleSource(a, "read the history of"); err != nil {
		return "", nil, err
	}
	current = c.imageIn(a.KustomizeImages, a.HelmParameters, repository)
	if current == "" {
		if i := slices.IndexFunc(a.Images, func(img string) bool { return imageName(img) == repository }); i >= 0 {
			current = a.Images[i]
		}
	}
	history = slices.Clone(a.History)
	for i := range history {
		history[i].Image = c.imageIn(history[i].KustomizeImages, history[i].HelmParameters, repository)
	}
	return current, history, nil
}

// PreviousImage finds what a rollback with DEPLOY_VIA=argocd goes back to:
// the newest status.history entry whose image of repository differs from
// the one the application runs now. ok is false when there is none.
func (c *Client) PreviousImage(ctx context.Context, repository string) (current string, prev Deployed, ok bool, err error) {
	current, history, err := c.History(ctx, repository)
	if err != nil {
		return "", Deployed{}, false, err
	}
	i := slices.IndexFunc(history, func(d Deployed) bool { return d.Image != "" && d.Image != current })
	if i < 0 {
		return current, Deployed{}, false, nil
	}
	return current, history[i], true, nil
}

// imageIn returns the image of repository the overrides set: the kustomize
// override matching it as withKustomizeImage matches ("name:tag",
// "name@digest", "old=new:tag"; a partial target such as ":tag" takes the
// old name), else the Helm parameters' repository:tag.
func (c *Client) imageIn(images []string, params []HelmParameter, repository string) string {
	for _, img := range images {
		if key, target, _, ok := overrideOf(img, repository); ok {
			if imageName(target) == "" {
				target = imageName(key) + target
			}
			return target
		}
	}
	var repo, tag string
	for _, p := range params {
		switch p.Name {
		case c.cfg.HelmImageRepository:
			repo = p.Value
		case c.cfg.HelmImageTag:
			tag = p.Value
		}
	}
	if repo == repository && tag != "" {
		return repo + ":" + tag
	}
	return ""
}
