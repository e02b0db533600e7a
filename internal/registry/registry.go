// Package registry lists the tags of the application image for the ChatOps
// bot: /showcontainers shows them newest first and /deploy accepts only a tag
// that exists. Two sources implement Lister: GitLab's container registry API
// (GitLab) and any OCI distribution registry (OCI).
package registry

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
)

// Tag is one tag of the application image.
type Tag struct {
	Name    string
	Created time.Time // when the image was built; zero if unknown
	Digest  string    // manifest digest such as sha256:…; "" if unknown
}

// Lister lists every tag of the application image, newest first.
type Lister interface {
	Tags(ctx context.Context) ([]Tag, error)
}

var (
	_ Lister = (*GitLab)(nil)
	_ Lister = (*OCI)(nil)
)

// Resolver looks one tag up afresh, past any listing cache, so that a
// confirmation sees whether the tag moved to another image since it was
// shown. A tag the registry does not have gives an error wrapping
// ErrTagNotFound.
type Resolver interface {
	Resolve(ctx context.Context, tag string) (Tag, error)
}

var (
	_ Resolver = (*GitLab)(nil)
	_ Resolver = (*OCI)(nil)
)

// ErrTagNotFound reports that the registry has no tag of that name.
var ErrTagNotFound = errors.New("no such tag in the registry")

// tagRE is the OCI distribution grammar of a tag.
var tagRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)

// checkTag refuses a name that cannot be a tag before it goes into a URL.
func checkTag(tag string) error {
	if !tagRE.MatchString(tag) {
		return fmt.Errorf("%q is not a tag name (letters, digits, _ . -, at most 128): %w", tag, ErrTagNotFound)
	}
	return nil
}

// concurrency bounds the per-tag requests a source runs at once.
const concurrency = 8

// SortNewestFirst orders tags newest first. Tags whose build time is known come
// before those whose time is unknown; ties and unknown times are ordered by
// semantic version, highest first (0.10.10 before 0.10.9 before 0.10.5), and
// tags that are not versions follow, by name.
func SortNewestFirst(tags []Tag) {
	slices.SortStableFunc(tags, compareTags)
}

func compareTags(a, b Tag) int {
	ak, bk := !a.Created.IsZero(), !b.Created.IsZero()
	switch {
	case ak && bk:
		if c := b.Created.Compare(a.Created); c != 0 {
			return c
		}
	case ak:
		return -1
	case bk:
		return 1
	}
	return compareNames(a.Name, b.Name)
}

// compareNames puts versions first, highest first, then the other names in
// lexical order.
func compareNames(a, b string) int {
	va, aok := parseVersion(a)
	vb, bok := parseVersion(b)
	switch {
	case aok && bok:
		if c := compareVersions(vb, va); c != 0 {
			return c
		}
	case aok:
		return -1
	case bok:
		return 1
	}
	return strings.Compare(a, b)
}

// versionRE accepts semantic versions and their common shortenings in tags:
// an optional "v", one to three numbers, an optional pre-release and build.
var versionRE = regexp.MustCompile(`^[vV]?(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$`)

type version struct {
	core [3]string // digits without leading zeros
	pre  []string  // pre-release identifiers; none for a release
}

func parseVersion(s string) (version, bool) {
	m := versionRE.FindStringSubmatch(s)
	if m == nil {
		return version{}, false
	}
	var v version
	for i := range v.core {
		v.core[i] = trimZeros(m[i+1])
	}
	if m[4] != "" {
		v.pre = strings.Split(m[4], ".")
	}
	return v, true
}

func trimZeros(s string) string {
	s = strings.TrimLeft(s, "0")
	if s == "" {
		return "0"
	}
	return s
}

// compareNumbers compares decimal strings without leading zeros, of any length.
func compareNumbers(a, b string) int {
	if len(a) != len(b) {
		return len(a) - len(b)
	}
	return strings.Compare(a, b)
}

func isNumber(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}

// compareVersions follows semver precedence: a pre-release is lower than its
// release; pre-release identifiers compare numerically when both are numbers,
// numbers before words, and a shorter list is lower.
func compareVersions(a, b version) int {
	for i := range a.core {
		if c := compareNumbers(a.core[i], b.core[i]); c != 0 {
			return c
		}
	}
	switch {
	case len(a.pre) == 0 && len(b.pre) == 0:
		return 0
	case len(a.pre) == 0:
		return 1
	case len(b.pre) == 0:
		return -1
	}
	for i := 0; i < len(a.pre) && i < len(b.pre); i++ {
		x, y := a.pre[i], b.pre[i]
		xn, yn := isNumber(x), isNumber(y)
		var c int
		switch {
		case xn && yn:
			c = compareNumbers(trimZeros(x), trimZeros(y))
		case xn:
			c = -1
		case yn:
			c = 1
		default:
			c = strings.Compare(x, y)
		}
		if c != 0 {
			return c
		}
	}
	return len(a.pre) - len(b.pre)
}

// forEach runs fn for 0..n-1, at most limit at once, and returns the first
// error; the context passed to fn is cancelled once any call fails.
func forEach(ctx context.Context, n, limit int, fn func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	sem := make(chan struct{}, limit)
	var wg sync.WaitGroup
loop:
	for i := range n {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			break loop
		}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := fn(ctx, i); err != nil {
				cancel(err)
			}
		})
	}
	wg.Wait()
	return context.Cause(ctx)
}
