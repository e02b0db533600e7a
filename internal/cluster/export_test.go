package cluster

import "time"

// SetServiceAccountNamespaceFile points NamespaceFromServiceAccount at path
// until the returned function restores it.
func SetServiceAccountNamespaceFile(path string) (restore func()) {
	old := serviceAccountNamespaceFile
	serviceAccountNamespaceFile = path
	return func() { serviceAccountNamespaceFile = old }
}

// SetRequestTimeout changes the timeout Config sets.
func SetRequestTimeout(d time.Duration) (restore func()) {
	old := requestTimeout
	requestTimeout = d
	return func() { requestTimeout = old }
}
