//go:build tools

// Package oracles only pins the commands that `make oracles` builds (see go.mod).
package oracles

import (
	_ "github.com/mattfenwick/cyclonus/cmd/cyclonus"
)
