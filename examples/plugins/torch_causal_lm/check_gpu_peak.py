"""Compare the GPU memory piobench sampled for the plugin's process tree
with what PyTorch says it used: torch.cuda.max_memory_reserved plus the
CUDA context (the device's used memory beyond the allocator's pool, less
what the idle device already showed).

    python3 check_gpu_peak.py RESULTS.json [IDLE_USED_MIB]

Exit status 1 when they differ by more than 5%.
"""

import json
import sys

MIB = 1 << 20


def main():
    run = json.load(open(sys.argv[1]))
    idle = float(sys.argv[2]) if len(sys.argv) > 2 else 0.0
    worst = 0.0
    seen = False
    for r in run["results"]:
        meta = r.get("metadata") or {}
        if "gpu_peak_mb" not in meta or "model_reported" not in meta:
            continue
        extra = meta["model_reported"].get("extra") or {}
        reserved = extra.get("torch_max_memory_reserved")
        context = extra.get("cuda_context_bytes")
        if reserved is None or context is None:
            print("%s: the plugin reported no torch figures" % r["benchmark_name"])
            continue
        seen = True
        sampled = meta["gpu_peak_mb"]
        expected = reserved / MIB + context / MIB - idle
        diff = 100 * (sampled - expected) / expected
        worst = max(worst, abs(diff))
        print("%-12s piobench sampled peak %.0f MiB (%d readings at %.1f Hz via %s); torch max_memory_reserved %.0f MiB "
              "+ CUDA context %.0f MiB - idle device %.0f MiB = %.0f MiB; difference %+.2f%%"
              % (r["benchmark_name"], sampled, meta.get("gpu_samples", 0), meta.get("gpu_sample_rate_hz", 0),
                 meta.get("gpu_source"), reserved / MIB, context / MIB, idle, expected, diff))
    if not seen:
        print("no result with both figures")
        return 1
    print("largest difference %.2f%%: %s" % (worst, "within 5%" if worst <= 5 else "MORE THAN 5%"))
    return 0 if worst <= 5 else 1


if __name__ == "__main__":
    sys.exit(main())
