//go:build !(nvml && cgo)

package sysmon

import "errors"

var errNVMLNotBuilt = errors.New("built without NVML (build with -tags nvml and cgo to use it)")

func openNVML() (gpuBackend, error) { return nil, errNVMLNotBuilt }
