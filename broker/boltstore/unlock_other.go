//go:build windows || plan9 || solaris || aix

package boltstore

import "os"

// unlockFile is a no-op here: closing the file releases the lock.
func unlockFile(*os.File) {}
