package result

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// maxFileName bounds the names SafeFileName returns, well under the 255
// bytes most file systems allow, so that a prefix and an extension fit.
const maxFileName = 100

// SafeFileName turns s (a model name, a run id, a chart title: text that
// came from users, servers or files) into one path element that is safe
// to create in a directory of ours: letters, digits, '.', '-' and '_'
// only, no leading dot (no hidden files, no "." or ".."), at most 100
// bytes, never empty. Everything else, path separators and NUL included,
// becomes '_'. A name that had to change gets a short hash of the
// original, so that distinct names stay distinct ("a/b" and "a_b" do not
// collide); a name that was already safe comes back as it was.
func SafeFileName(s string) string {
	var b strings.Builder
	changed := false
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		case r == '.' && b.Len() > 0:
			b.WriteRune(r)
		default:
			b.WriteByte('_')
			changed = true
		}
	}
	out := strings.TrimRight(b.String(), ".")
	if out != b.String() {
		changed = true // a trailing dot is dropped by some file systems
	}
	if out == "" {
		out, changed = "unnamed", true
	}
	if len(out) > maxFileName {
		changed = true
	}
	if !changed {
		return out
	}
	sum := sha256.Sum256([]byte(s))
	tag := "-" + hex.EncodeToString(sum[:4])
	if len(out) > maxFileName-len(tag) {
		out = out[:maxFileName-len(tag)]
	}
	return out + tag
}
