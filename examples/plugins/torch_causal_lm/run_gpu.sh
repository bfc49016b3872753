#!/bin/bash
# The end-to-end GPU run of docs/gpu.md, on a machine with an NVIDIA GPU,
# PyTorch and transformers: piobench (a static binary, dist/piobench) runs
# the performance and memory suites against plugin.py through --driver proc.
# Everything lands in $OUT (default ./gpu-out).
set -u
OUT=${OUT:-./gpu-out}
mkdir -p "$OUT"
B=./dist/piobench
P="python3 examples/plugins/torch_causal_lm/plugin.py"
LOG=$OUT/console.log
exec > >(tee -a "$LOG") 2>&1
step() { echo; echo "=== $(date -u +%H:%M:%S) $*"; }

step environment
nvidia-smi
nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used --format=csv
python3 -c 'import sys, torch, transformers; print(sys.version.split()[0], "torch", torch.__version__, "transformers", transformers.__version__, torch.cuda.get_device_name(0))'
IDLE=$(nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits | head -1)
echo "idle device used: $IDLE MiB"
$B version

step "nvidia-smi loop mode (what the static binary samples with)"
nvidia-smi --help-query-compute-apps | grep -E '^"' | head -12
timeout 1 nvidia-smi --query-gpu=timestamp,index,uuid,memory.used,memory.total,utilization.gpu,name --format=csv,noheader,nounits -lms 100 | head -5
python3 -c 'import torch, time; x = torch.ones(1 << 28, device="cuda"); print("allocated", flush=True); time.sleep(2)' &
timeout 6 nvidia-smi --query-compute-apps=timestamp,gpu_uuid,pid,used_memory --format=csv,noheader,nounits -lms 100 | head -8
wait $!

# Each run is bounded, and its JSON kept as soon as it exists.
keep() { cp "$OUT/$1-res/"*.json "$OUT/$1.json" 2>/dev/null; rm -rf "$OUT/$1-res"; }

step "memory suite (1.1B Llama, bf16, random weights)"
timeout 120 $B run --no-history -q --driver proc --command "$P" --name llama-1.1b-random --suite memory \
	--plugin-log "$OUT/plugin-mem.log" --out "$OUT/mem-res"
echo "exit $?"
if ! grep -q '"gpu_memory"' "$OUT"/mem-res/*.json; then
	echo "the memory suite has no gpu_memory here: running it by name"
	timeout 90 $B run --no-history -q --driver proc --command "$P" --name llama-1.1b-random --benchmark gpu_memory --out "$OUT/gpumem-res"
	keep gpumem
fi
python3 examples/plugins/torch_causal_lm/check_gpu_peak.py "$OUT"/mem-res/*.json "$IDLE"
echo "check exit $?"; keep mem

step "performance suite"
timeout 200 $B run --no-history -q --driver proc --command "$P" --name llama-1.1b-random --suite performance \
	--plugin-log "$OUT/plugin-perf.log" --out "$OUT/perf-res"
echo "exit $?"; keep perf

step "largest batch"
timeout 80 $B run --no-history -q --driver proc --command "$P" --name llama-1.1b-random \
	--benchmark batch_processing_64 --benchmark batch_processing_128 --out "$OUT/batch-res"
echo "exit $?"; keep batch

step "sampler CPU cost (process-tree RSS at 10 Hz)"
./dist/sysmon.test -test.run xxx -test.bench 'SamplerCPU10Hz|TreeRSS' -test.benchtime 3x

step "plugin logs (tails)"
tail -n 20 "$OUT"/plugin-*.log
rm -f "$OUT"/plugin-*.log
ls -la "$OUT"
