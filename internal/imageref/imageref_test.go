package imageref

import "testing"

func TestSplit(t *testing.T) {
	tests := []struct{ ref, name, tag, digest string }{
		{"registry.example.com/oil/app:0.10.4", "registry.example.com/oil/app", "0.10.4", ""},
		{"localhost:5000/app:1", "localhost:5000/app", "1", ""},
		{"localhost:5000/app", "localhost:5000/app", "", ""},
		{"app@sha256:abc", "app", "", "sha256:abc"},
		{"r/app:1@sha256:abc", "r/app", "1", "sha256:abc"},
		{"", "", "", ""},
	}
	for _, tt := range tests {
		if n, tag, d := Split(tt.ref); n != tt.name || tag != tt.tag || d != tt.digest {
			t.Errorf("Split(%q) = %q %q %q, want %q %q %q", tt.ref, n, tag, d, tt.name, tt.tag, tt.digest)
		}
	}
}

func TestHasRegistryHost(t *testing.T) {
	for name, want := range map[string]bool{
		"registry.example.com/oil/app": true, "127.0.0.1:5000/oil/app": true, "localhost/app": true,
		"oil/app": false, "app": false, "registry.example.com": false,
	} {
		if got := HasRegistryHost(name); got != want {
			t.Errorf("HasRegistryHost(%q) = %v, want %v", name, got, want)
		}
	}
}
