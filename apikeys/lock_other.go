//go:build !unix

package apikeys

// lockFile is a no-op where flock is not available: changes from two
// processes at once may lose one.
func lockFile(string) (func(), error) { return func() {}, nil }
