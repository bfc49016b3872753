//go:build unix && !linux

package ref

import "errors"

func dropPageCache(int) error {
	return errors.New("evicting a file from the page cache is not supported on this system")
}

func adviseHugePages([]byte) {}

// populate is not available: the caller touches every page instead.
func populate([]byte) error { return errors.ErrUnsupported }
