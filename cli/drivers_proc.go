package cli

import _ "github.com/inference-pio/piobench/model/proc" // plugins in any language, as subprocesses
