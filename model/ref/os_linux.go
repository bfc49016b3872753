package ref

import "golang.org/x/sys/unix"

// dropPageCache asks the kernel to evict the file open as fd from the page
// cache.
func dropPageCache(fd int) error { return unix.Fadvise(fd, 0, 0, unix.FADV_DONTNEED) }

// adviseHugePages asks for transparent huge pages; advice only.
func adviseHugePages(data []byte) { unix.Madvise(data, unix.MADV_HUGEPAGE) }

// populate reads every page of data in with one call (Linux 5.14+).
func populate(data []byte) error { return unix.Madvise(data, unix.MADV_POPULATE_READ) }
