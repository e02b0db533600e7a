package argocd

import (
	"fmt"
	"strings"

	"gitlab.com/derrick-kit/derrick/internal/imageref"
)

// imageRef is an image reference split as kustomize and Helm charts need it.
type imageRef struct {
	name   string // registry.example.com:5000/oil/app
	tag    string // 0.10.5, may be empty when digest is set
	digest string // sha256:..., may be empty
}

// parseImage splits "name:tag", "name@digest" or "name:tag@digest". A
// reference without tag and digest is refused: it would mean "latest".
func parseImage(ref string) (imageRef, error) {
	var r imageRef
	if ref == "" || strings.ContainsAny(ref, " \t\r\n=") {
		return r, fmt.Errorf("image %q: want repository:tag, e.g. registry.example.com/oil/app:0.10.5", ref)
	}
	r.name, r.tag, r.digest = imageref.Split(ref)
	if strings.Contains(ref, "@") && !strings.Contains(r.digest, ":") {
		return imageRef{}, fmt.Errorf("image %q: digest %q: want algorithm:hex", ref, r.digest)
	}
	if r.tag == "" && strings.HasSuffix(strings.SplitN(ref, "@", 2)[0], ":") {
		return imageRef{}, fmt.Errorf("image %q: empty tag", ref)
	}
	if r.name == "" || strings.HasSuffix(r.name, "/") || strings.HasPrefix(r.name, "/") {
		return imageRef{}, fmt.Errorf("image %q: empty repository", ref)
	}
	if r.tag == "" && r.digest == "" {
		return imageRef{}, fmt.Errorf("image %q has no tag: want repository:tag, e.g. %s:0.10.5", ref, r.name)
	}
	return r, nil
}

// String is the reference in kustomize's images syntax.
func (r imageRef) String() string {
	s := r.name
	if r.tag != "" {
		s += ":" + r.tag
	}
	if r.digest != "" {
		s += "@" + r.digest
	}
	return s
}

// withKustomizeImage returns the kustomize images overrides with the
// override for ref's repository replaced (or appended), keeping the others.
// An override of the form "old=new:tag" whose old or new name is ref's
// repository keeps its old name: "old=<ref>".
func withKustomizeImage(images []string, ref imageRef) []string {
	out := make([]string, 0, len(images)+1)
	done := false
	for _, img := range images {
		if key, _, renamed, ok := overrideOf(img, ref.name); ok {
			if done {
				continue // a duplicate: keep one override per image
			}
			done = true
			if renamed {
				img = key + "=" + ref.String()
			} else {
				img = ref.String()
			}
		}
		out = append(out, img)
	}
	if !done {
		out = append(out, ref.String())
	}
	return out
}

// imageName strips tag and digest of a reference; it tolerates the partial
// forms kustomize overrides allow (a bare name, or ":tag" only).
func imageName(ref string) string {
	name, _, _ := imageref.Split(ref)
	return name
}

// overrideOf reads a kustomize images override, "name:tag" or
// "old=new:tag", and reports whether it is one of repository's.
func overrideOf(img, repository string) (key, target string, renamed, ok bool) {
	key, target, renamed = strings.Cut(img, "=")
	if !renamed {
		target = img
	}
	return key, target, renamed, key == repository || imageName(target) == repository || imageName(key) == repository
}
