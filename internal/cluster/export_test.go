package cluster

// SetServiceAccountNamespaceFile points NamespaceFromServiceAccount at path
// until the returned function restores it.
func SetServiceAccountNamespaceFile(path string) (restore func()) {
	old := serviceAccountNamespaceFile
	serviceAccountNamespaceFile = path
	return func() { serviceAccountNamespaceFile = old }
}
