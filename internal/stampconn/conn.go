// Package stampconn wraps TCP connections so that each read notes when its
// bytes arrived (the kernel's receive timestamp on Linux, the time the read
// returned elsewhere) and each request notes when its first byte was
// written. The serving client (model/openai) and the simulator (sim) share
// it, so both measure the same way.
package stampconn

import "time"

// epoch anchors the stored times, which are nanoseconds after it, so that
// the times returned keep their monotonic reading.
var epoch = time.Now()
