package registry

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"gitlab.com/derrick-kit/derrick/internal/registrytest"
)

// TestOCIRealRegistry pushes images with skopeo to a real docker-registry
// and lists them back.
func TestOCIRealRegistry(t *testing.T) {
	reg := registrytest.Start(t)
	addr, user, password := reg.Host, reg.User, reg.Password

	base := time.Date(2026, 11, 26, 4, 0, 36, 0, time.UTC)
	at := func(h int) time.Time { return base.Add(time.Duration(h) * time.Hour) }
	layout := registrytest.NewLayout(t)
	digests := map[string]string{
		"0.9.0":   layout.Tag("0.9.0", layout.Image("0.9.0", at(1), "amd64")),
		"0.10.10": layout.Tag("0.10.10", layout.Image("0.10.10", at(2), "amd64")),
		"0.10.5":  layout.Tag("0.10.5", layout.Image("0.10.5", at(4), "amd64")),
		// The arm64 image is the newest, but the bot runs amd64.
		"multi": layout.Tag("multi", layout.Index(layout.Image("multi-arm", at(5), "arm64"), layout.Image("multi-amd", at(3), "amd64"))),
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	for _, tag := range []string{"0.9.0", "0.10.10", "0.10.5", "multi"} {
		reg.Copy(t, layout, tag, "oil/app:"+tag)
	}

	want := []Tag{
		{Name: "0.10.5", Created: at(4), Digest: digests["0.10.5"]},
		{Name: "multi", Created: at(3), Digest: digests["multi"]},
		{Name: "0.10.10", Created: at(2), Digest: digests["0.10.10"]},
		{Name: "0.9.0", Created: at(1), Digest: digests["0.9.0"]},
	}
	tests := []struct {
		name     string
		image    string
		user     string
		password string
		want     []Tag
		wantErr  []string
	}{
		{name: "basic auth lists every tag newest first", image: "oil/app", user: user, password: password, want: want},
		{name: "wrong password", image: "oil/app", user: user, password: "not-the-Password-1",
			wantErr: []string{"list tags of " + addr + "/oil/app: 401 Unauthorized", `the registry rejected REGISTRY_USERNAME "derrick" and REGISTRY_PASSWORD: check them`}},
		{name: "no credentials", image: "oil/app",
			wantErr: []string{"401 Unauthorized", "the registry requires credentials: set REGISTRY_USERNAME and REGISTRY_PASSWORD"}},
		{name: "unknown repository", image: "oil/nothing", user: user, password: password,
			wantErr: []string{"list tags of " + addr + "/oil/nothing: 404 Not Found (NAME_UNKNOWN repository name not known to registry): check REGISTRY_IMAGE, or push an image first"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o, err := NewOCI(OCIConfig{Image: addr + "/" + tc.image, Username: tc.user, Password: tc.password, Insecure: true})
			if err != nil {
				t.Fatal(err)
			}
			got, err := o.Tags(ctx)
			checkTags(t, got, err, tc.want, tc.wantErr, tc.password)
		})
	}
}

// TestOCIRealRegistryTokenAuth lists a real docker-registry whose `auth:
// token` sends clients to a token service for a signed JWT.
func TestOCIRealRegistryTokenAuth(t *testing.T) {
	reg := registrytest.StartTokenAuth(t)
	base := time.Date(2026, 11, 26, 4, 0, 36, 0, time.UTC)
	d1 := reg.Push(t, "oil/app", "0.1.0", base)
	d2 := reg.Push(t, "oil/app", "0.2.0", base.Add(time.Hour))
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()

	o, err := NewOCI(OCIConfig{Image: reg.Host + "/oil/app", Username: reg.User, Password: reg.Password, Insecure: true})
	if err != nil {
		t.Fatal(err)
	}
	before := reg.Token.Requests.Load()
	got, err := o.Tags(ctx)
	if err != nil {
		t.Fatalf("Tags: %v", err)
	}
	want := []Tag{{Name: "0.2.0", Created: base.Add(time.Hour), Digest: d2}, {Name: "0.1.0", Created: base, Digest: d1}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Tags (-want +got):\n%s", diff)
	}
	if n := reg.Token.Requests.Load() - before; n != 1 {
		t.Errorf("%d token requests for one listing, want 1 (the token is reused)", n)
	}

	o, err = NewOCI(OCIConfig{Image: reg.Host + "/oil/app", Username: reg.User, Password: "not-the-Password-1", Insecure: true})
	if err != nil {
		t.Fatal(err)
	}
	_, err = o.Tags(ctx)
	wantErr(t, err, "get a pull token for "+reg.Host+"/oil/app from "+strings.TrimSuffix(reg.Token.URL, "/token"),
		"401 Unauthorized (incorrect username or password): the token service rejected REGISTRY_USERNAME \"derrick\" and REGISTRY_PASSWORD: check them")
	if strings.Contains(err.Error(), "not-the-Password-1") {
		t.Errorf("error reveals the password: %v", err)
	}

	// Anonymous: the token service grants nothing, the registry refuses.
	o, err = NewOCI(OCIConfig{Image: reg.Host + "/oil/app", Insecure: true})
	if err != nil {
		t.Fatal(err)
	}
	_, err = o.Tags(ctx)
	wantErr(t, err, "list tags of "+reg.Host+"/oil/app: 401 Unauthorized", "the registry requires credentials: set REGISTRY_USERNAME and REGISTRY_PASSWORD")
}
