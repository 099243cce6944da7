//go:build !unix

package main

// writable is not checked ahead here; Promote reports what fails.
func writable(string, bool) error { return nil }
