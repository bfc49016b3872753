package cli

import _ "github.com/inference-pio/piobench/model/openai" // the OpenAI-compatible server driver
