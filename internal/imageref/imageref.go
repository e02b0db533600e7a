// Package imageref splits container image references the way Docker and
// Kubernetes read them, for the few places Derrick needs their parts.
package imageref

import "strings"

// Split cuts "name[:tag][@digest]" into its parts. A ':' after the last '/'
// starts the tag; one before it belongs to a registry port. Missing parts
// are empty; nothing is validated.
func Split(ref string) (name, tag, digest string) {
	name = ref
	if i := strings.IndexByte(name, '@'); i >= 0 {
		name, digest = name[:i], name[i+1:]
	}
	if i := strings.LastIndexByte(name, ':'); i > strings.LastIndexByte(name, '/') {
		name, tag = name[:i], name[i+1:]
	}
	return name, tag, digest
}

// HasRegistryHost reports whether name starts with a registry host — a first
// component with a dot or a port, or localhost — as Docker decides. Without
// one, Kubernetes pulls from Docker Hub.
func HasRegistryHost(name string) bool {
	host, _, found := strings.Cut(name, "/")
	return found && (strings.ContainsAny(host, ".:") || host == "localhost")
}
