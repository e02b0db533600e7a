package argocd

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseImage(t *testing.T) {
	tests := []struct {
		ref     string
		want    imageRef
		wantErr string
	}{
		{ref: "registry.example.com/oil/app:0.10.5", want: imageRef{name: "registry.example.com/oil/app", tag: "0.10.5"}},
		{ref: "localhost:5000/app:1", want: imageRef{name: "localhost:5000/app", tag: "1"}},
		{ref: "app@sha256:abc", want: imageRef{name: "app", digest: "sha256:abc"}},
		{ref: "r.io/app:1@sha256:abc", want: imageRef{name: "r.io/app", tag: "1", digest: "sha256:abc"}},
		{ref: "localhost:5000/app", wantErr: "has no tag"},
		{ref: "app:", wantErr: "empty tag"},
		{ref: ":1", wantErr: "empty repository"},
		{ref: "app@abc", wantErr: "want algorithm:hex"},
		{ref: "", wantErr: "want repository:tag"},
		{ref: "a=b:1", wantErr: "want repository:tag"},
	}
	for _, tt := range tests {
		t.Run(tt.ref, func(t *testing.T) {
			got, err := parseImage(tt.ref)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseImage(%q) = %v, want an error with %q", tt.ref, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(imageRef{})); diff != "" {
				t.Errorf("parseImage(%q) (-want +got):\n%s", tt.ref, diff)
			}
			if got.String() != tt.ref {
				t.Errorf("String() = %q, want %q", got.String(), tt.ref)
			}
		})
	}
}

func TestWithKustomizeImage(t *testing.T) {
	tests := []struct {
		name   string
		images []string
		ref    string
		want   []string
	}{
		{name: "none yet", ref: "r.io/app:2", want: []string{"r.io/app:2"}},
		{name: "replace tag", images: []string{"r.io/app:1", "r.io/db:5"}, ref: "r.io/app:2", want: []string{"r.io/app:2", "r.io/db:5"}},
		{name: "replace digest", images: []string{"r.io/db:5", "r.io/app@sha256:1"}, ref: "r.io/app:2", want: []string{"r.io/db:5", "r.io/app:2"}},
		{name: "prefix is another image", images: []string{"r.io/app-worker:1"}, ref: "r.io/app:2", want: []string{"r.io/app-worker:1", "r.io/app:2"}},
		{name: "renaming override by new name", images: []string{"app=r.io/app:1"}, ref: "r.io/app:2", want: []string{"app=r.io/app:2"}},
		{name: "renaming override by old name", images: []string{"r.io/app=mirror.io/app:1"}, ref: "r.io/app:2", want: []string{"r.io/app=r.io/app:2"}},
		{name: "duplicates collapse", images: []string{"r.io/app:1", "r.io/app:0"}, ref: "r.io/app:2", want: []string{"r.io/app:2"}},
		{name: "port is not a tag", images: []string{"localhost:5000/app:1"}, ref: "localhost:5000/app:2", want: []string{"localhost:5000/app:2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ref, err := parseImage(tt.ref)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, withKustomizeImage(tt.images, ref)); diff != "" {
				t.Errorf("withKustomizeImage (-want +got):\n%s", diff)
			}
		})
	}
}

func FuzzParseImage(f *testing.F) {
	for _, s := range []string{"r.io/app:1", "localhost:5000/a/b:1@sha256:ab", "app@sha256:x", ":", "@"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := parseImage(s)
		if err != nil {
			return
		}
		if r.String() != s {
			t.Errorf("parseImage(%q).String() = %q", s, r.String())
		}
		again, err := parseImage(r.String())
		if err != nil || again != r {
			t.Errorf("parseImage(%q) not stable: %v, %v", s, again, err)
		}
	})
}
