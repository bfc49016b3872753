// Package reliability holds piobench's end-to-end tests of how it behaves
// with peers that misbehave: HTTP servers that never answer, answer a byte
// at a time, send a gigabyte or invalid UTF-8 or an endless stream, and
// subprocess plugins that print garbage, stop reading or die. Each must
// end within its timeout as a recorded error, with memory bounded and no
// goroutine or process left behind. docs/reliability.md lists what is
// guaranteed and how each guarantee is tested. The package has no API.
package reliability
